// Input - a fuzz input read as fields in turn: each take<T>() consumes
// sizeof(T) bytes (fewer at the end, the rest zero); what is left is the
// payload (data, size).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace vnet::fuzz {

struct Input {
  const uint8_t* data;
  size_t size;
  template <typename T>
  T take() {
    T value{};
    size_t n = std::min(sizeof value, size);
    std::memcpy(&value, data, n);
    data += n;
    size -= n;
    return value;
  }
};

}  // namespace vnet::fuzz
