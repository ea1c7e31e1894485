// Fds for the vhost-user tests: memfds to pass as region or log fds, and a
// probe that tells whether the code under test closed an fd it was given.
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <vector>

#include "kernel_ifaces/unique_fd.h"

namespace vnet::vhost_user::test {

inline UniqueFd make_memfd(size_t size = 4096, const char* name = "vhost-user-test") {
  UniqueFd fd(memfd_create(name, MFD_CLOEXEC));
  EXPECT_TRUE(fd.valid());
  EXPECT_EQ(ftruncate(fd.get(), size), 0);
  return fd;
}

inline std::vector<UniqueFd> memfds(size_t n) {
  std::vector<UniqueFd> fds;
  for (size_t i = 0; i < n; i++) fds.push_back(make_memfd());
  return fds;
}

// A pipe whose write end goes into a message: the read end sees EOF once
// that fd is closed, so a test can tell the parser closed it.
struct ClosedProbe {
  UniqueFd read_end, write_end;
  ClosedProbe() {
    int ends[2];
    EXPECT_EQ(pipe2(ends, O_CLOEXEC | O_NONBLOCK), 0);
    read_end.reset(ends[0]);
    write_end.reset(ends[1]);
  }
  bool write_end_closed() const {
    char byte;
    return read(read_end.get(), &byte, 1) == 0;
  }
};

}  // namespace vnet::vhost_user::test
