// The vhost-user framer, parser, decoders and memory table, fed as a socket
// would feed them. Input: chunks, each [fd count][length - 1][bytes]; that
// many fds (eventfds) "arrive" with the chunk. Every message that comes out
// must keep its request's fd rule, every decoder must take any message, and
// a SET_MEM_TABLE's regions (sizes and offsets clamped to 64 KiB, addresses
// as fuzzed) are mapped from memfds and translated at their edges: a span
// returned must lie inside its region's mapping, at the right offset. No fd
// may outlive the input.
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "backends/vhost_user/memory_table.h"
#include "backends/vhost_user/vhost_user_framer.h"
#include "tests/fuzz/fake_daemon.h"

namespace {

using namespace vnet::vhost_user;
using vnet::UniqueFd;
using vnet::fuzz::contract_broken;

constexpr uint64_t kClamp = 64 * 1024;

int lowest_free_fd() {
  int fd = fcntl(0, F_DUPFD_CLOEXEC, 0);
  if (fd < 0) contract_broken("no fd left");
  close(fd);
  return fd;
}

UniqueFd sized_memfd(uint64_t size) {
  UniqueFd fd(memfd_create("fuzz-vhost-user", MFD_CLOEXEC));
  if (!fd || ftruncate(fd.get(), static_cast<off_t>(size)) != 0) contract_broken("memfd_create/ftruncate failed");
  return fd;
}

void check_fd_rule(const Message& message) {
  if (!message.known) {
    if (!message.fds.empty()) contract_broken("an unknown request kept its fds");
    return;
  }
  if (message.request == VHOST_USER_SET_MEM_TABLE) {
    auto regions = decode_memory_table(message);
    if (!regions || regions->empty() || regions->size() != message.fds.size()) {
      contract_broken("a SET_MEM_TABLE accepted without one fd per region");
    }
  }
  if (message.request == VHOST_USER_SET_VRING_KICK || message.request == VHOST_USER_SET_VRING_CALL ||
      message.request == VHOST_USER_SET_VRING_ERR) {
    auto file = decode_vring_file(message);
    if (!file || file->has_fd != (message.fds.size() == 1) || message.fds.size() > 1) {
      contract_broken("a vring fd message accepted against its NOFD bit");
    }
  }
  if (message.request == VHOST_USER_REM_MEM_REG && !message.fds.empty()) contract_broken("REM_MEM_REG kept an fd");
}

// Every decoder on every message: none may read outside the payload.
void decode_all(const Message& message) {
  (void)decode_u64(message);
  (void)decode_vring_state(message);
  (void)decode_vring_addr(message);
  (void)decode_vring_file(message);
  (void)decode_memory_table(message);
  (void)decode_single_region(message);
  (void)decode_log(message);
  auto config = decode_config(message);
  if (config && config->bytes.size() > VHOST_USER_MAX_CONFIG_SIZE) contract_broken("a config beyond its bound");
  (void)decode_rarp_mac(message);
}

struct Mapped {
  RegionDescription description;
  uint8_t* host;  // the region's first byte, as the table translated it
};

// A span for [addr, addr+len) must start at host + (addr - start) of the
// region holding addr, and end inside it. Reading its ends proves it mapped.
void check_span(std::span<uint8_t> span, uint64_t addr, uint64_t len, const std::vector<Mapped>& regions,
                bool user, bool whole) {
  if (span.empty()) return;
  if (span.size() > len || (whole && span.size() != len)) contract_broken("a span longer than asked");
  for (const Mapped& r : regions) {
    uint64_t start = user ? r.description.userspace_addr : r.description.guest_phys_addr;
    if (addr - start >= r.description.memory_size) continue;
    if (span.data() != r.host + (addr - start) || (addr - start) + span.size() > r.description.memory_size) {
      contract_broken("a translated span outside its region");
    }
    volatile uint8_t first = span.front(), last = span.back();
    (void)first, (void)last;
    return;
  }
  contract_broken("a span for an address no region holds");
}

void map_and_translate(const Message& message) {
  auto described = decode_memory_table(message);
  if (!described) return;
  std::vector<RegionWithFd> regions;
  for (RegionDescription d : *described) {
    d.memory_size %= kClamp;
    d.mmap_offset %= kClamp;
    regions.push_back(RegionWithFd{d, sized_memfd(d.memory_size + d.mmap_offset)});
  }
  MemoryTable table;
  if (!table.set_regions(std::move(regions))) {
    if (table.region_count() != 0) contract_broken("a refused table left regions");
    return;
  }
  std::vector<Mapped> mapped;
  for (RegionDescription d : *described) {
    d.memory_size %= kClamp;
    d.mmap_offset %= kClamp;
    std::span<uint8_t> first = table.translate_prefix(d.guest_phys_addr, 1);
    if (first.size() != 1 || table.translate_user_prefix(d.userspace_addr, 1).data() != first.data()) {
      contract_broken("a mapped region's first byte does not translate");
    }
    mapped.push_back(Mapped{d, first.data()});
  }
  for (const RegionDescription& fuzzed : *described) {
    const Mapped& r = mapped[&fuzzed - described->data()];
    uint64_t end = r.description.guest_phys_addr + r.description.memory_size;
    uint64_t user_end = r.description.userspace_addr + r.description.memory_size;
    for (uint64_t len : {uint64_t{1}, fuzzed.memory_size, fuzzed.mmap_offset, uint64_t{0x1000}}) {
      for (uint64_t gpa : {r.description.guest_phys_addr, end - 1, end, r.description.guest_phys_addr - 1,
                           fuzzed.mmap_offset}) {
        check_span(table.translate_prefix(gpa, len), gpa, len, mapped, false, false);
        check_span(table.translate_whole(gpa, len), gpa, len, mapped, false, true);
      }
      for (uint64_t uva : {r.description.userspace_addr, user_end - 1, user_end, fuzzed.guest_phys_addr}) {
        check_span(table.translate_user_prefix(uva, len), uva, len, mapped, true, false);
        check_span(table.translate_user_whole(uva, len), uva, len, mapped, true, true);
      }
    }
  }
  // The dirty log over the same addresses: a small log, so most land beyond.
  if (table.set_log(sized_memfd(64), 16, 48)) {
    table.set_logging(true);
    for (const RegionDescription& fuzzed : *described) table.log_write(fuzzed.guest_phys_addr, fuzzed.memory_size);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const int free_fd_before = lowest_free_fd();
  {
    Framer framer;
    std::span<const uint8_t> input(data, size);
    while (input.size() >= 2 && !framer.broken()) {
      size_t fd_count = input[0] % 11;  // up to 10: more than any request takes
      size_t length = std::min<size_t>(input[1] + 1, input.size() - 2);
      std::span<const uint8_t> chunk = input.subspan(2, length);
      input = input.subspan(2 + length);
      std::vector<UniqueFd> fds;
      for (size_t i = 0; i < fd_count; i++) fds.emplace_back(eventfd(0, EFD_CLOEXEC));
      framer.feed(chunk, std::move(fds));
      while (auto next = framer.next()) {
        if (!next->ok()) {
          if (next->error().message.empty()) contract_broken("an Error without a message");
          if (framer.broken()) break;
          continue;
        }
        const Message& message = next->value();
        check_fd_rule(message);
        decode_all(message);
        if (message.request == VHOST_USER_SET_MEM_TABLE) map_and_translate(message);
      }
    }
  }
  if (lowest_free_fd() != free_fd_before) contract_broken("an fd outlived the input");
  return 0;
}
