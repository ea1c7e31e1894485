// valid_utf8: what vnetd accepts as an interface name it can name in QMP.
#include <gtest/gtest.h>

#include "kernel_ifaces/utf8.h"

namespace vnet {
namespace {

TEST(Utf8, TellsTextFromBytes) {
  EXPECT_TRUE(valid_utf8(""));
  EXPECT_TRUE(valid_utf8("tap0"));
  EXPECT_TRUE(valid_utf8("n\xc3\xa9t"));              // é
  EXPECT_TRUE(valid_utf8("\xe2\x82\xac"));            // €
  EXPECT_TRUE(valid_utf8("\xf0\x9f\x90\xa7"));        // a penguin
  EXPECT_FALSE(valid_utf8("fz\xff"));                 // the probe's name
  EXPECT_FALSE(valid_utf8("\xc3"));                   // cut short
  EXPECT_FALSE(valid_utf8("a\xe2\x82"));              // cut short
  EXPECT_FALSE(valid_utf8("\xc0\xaf"));               // overlong '/'
  EXPECT_FALSE(valid_utf8("\xed\xa0\x80"));           // a surrogate
  EXPECT_FALSE(valid_utf8("\xf4\x90\x80\x80"));       // past U+10FFFF
  EXPECT_FALSE(valid_utf8("\x80x"));                  // a continuation byte first
}

}  // namespace
}  // namespace vnet
