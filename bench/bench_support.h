// What the C++ benchmarks share: a failure that ends the run with its
// message, unwrapping of Result, and the median of samples.
#pragma once

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "kernel_ifaces/result.h"

namespace vnet::bench {

struct Failure {
  std::string message;
};

template <typename T>
T must(Result<T> result) {
  if (!result) throw Failure{result.error().message};
  return std::move(result).value();
}

inline void must(Result<void> result) {
  if (!result) throw Failure{result.error().message};
}

inline void check(bool ok, const std::string& what) {
  if (!ok) throw Failure{"check failed: " + what};
}

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

}  // namespace vnet::bench
