// Result<T> on tl::expected: made from a value or an Error; Result<void>
// succeeds by default; take_error(doing) passes a failure up with context.
#include "kernel_ifaces/result.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace vnet {
namespace {

Result<int> half(int n) {
  if (n % 2) return Error{EINVAL, std::to_string(n) + " is odd"};
  return n / 2;
}

Result<void> check(bool good) {
  if (!good) return Error::plain("not good");
  return {};
}

Result<std::unique_ptr<int>> boxed(int n) { return std::make_unique<int>(n); }

TEST(Result, AValueOrAnError) {
  auto ok = half(8);
  ASSERT_TRUE(ok);
  EXPECT_TRUE(ok.ok());
  EXPECT_EQ(*ok, 4);
  auto odd = half(7);
  ASSERT_FALSE(odd);
  EXPECT_EQ(odd.error().errnum, EINVAL);
  EXPECT_EQ(odd.error().message, "7 is odd");
  EXPECT_TRUE(check(true));
  EXPECT_EQ(check(false).error().message, "not good");
  auto box = boxed(3);
  std::unique_ptr<int> taken = std::move(*box);
  EXPECT_EQ(*taken, 3) << "a move-only value moves out";
}

TEST(Result, TakeErrorWithWhatTheCallerWasDoing) {
  auto odd = half(5);
  Error error = odd.take_error("halving the queue count of tap \"vt0\"");
  EXPECT_EQ(error.errnum, EINVAL) << "the errno is kept";
  EXPECT_EQ(error.message, "halving the queue count of tap \"vt0\": 5 is odd");
  auto failed = check(false);
  EXPECT_EQ(failed.take_error("step 2").message, "step 2: not good");
}

}  // namespace
}  // namespace vnet
