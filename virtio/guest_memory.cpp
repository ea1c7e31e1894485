#include "virtio/guest_memory.h"

#include <sys/mman.h>
#include <unistd.h>

namespace vnet::virtio {

Result<std::unique_ptr<GuestMemory>> GuestMemory::create(size_t size, uint64_t gpa_base) {
  UniqueFd fd(memfd_create("virtio-guest-memory", MFD_CLOEXEC));
  if (!fd) return errno_error("memfd_create");
  if (ftruncate(fd.get(), static_cast<off_t>(size)) < 0) return errno_error("ftruncate of guest memory");
  void* base = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
  if (base == MAP_FAILED) return errno_error("mmap of guest memory");
  return std::unique_ptr<GuestMemory>(new GuestMemory(std::move(fd), static_cast<uint8_t*>(base), size, gpa_base));
}

GuestMemory::~GuestMemory() { munmap(base_, size_); }

uint8_t* GuestMemory::host(uint64_t gpa, size_t len) const {
  if (gpa < gpa_base_ || gpa - gpa_base_ > size_ || len > size_ - (gpa - gpa_base_)) return nullptr;
  return base_ + (gpa - gpa_base_);
}

Result<uint64_t> GuestMemory::allocate(size_t size, size_t align) {
  size_t start = (used_ + align - 1) / align * align;
  if (start > size_ || size > size_ - start) {
    return Error::plain("guest memory exhausted: " + std::to_string(size) + " more bytes wanted");
  }
  used_ = start + size;
  return gpa_base_ + start;
}

}  // namespace vnet::virtio
