// JSON read and written as QEMU 7.2 reads and writes it.
#include <gtest/gtest.h>

#include "ctl/qmp/qemu_json_reader.h"
#include "ctl/qmp/qemu_json_writer.h"

namespace vnet::qmp {
namespace {

using json = nlohmann::ordered_json;

TEST(QemuJsonReader, TakesSingleQuotedStringsAndEscapedQuote) {
  std::string error;
  auto value = parse_qemu_json(R"({'execute':'a"b', "x": "it\'s"})", error);
  ASSERT_TRUE(value) << error;
  EXPECT_EQ((*value)["execute"], "a\"b");
  EXPECT_EQ((*value)["x"], "it's");
}

TEST(QemuJsonReader, RefusesDuplicateKeysAtAnyDepth) {
  std::string error;
  EXPECT_FALSE(parse_qemu_json(R"({"execute":"a","execute":"b"})", error));
  EXPECT_EQ(error, "JSON parse error, duplicate key");
  EXPECT_FALSE(parse_qemu_json(R"({"arguments":{"id":"a","id":"b"}})", error));
  EXPECT_TRUE(parse_qemu_json(R"({"a":{"id":1},"b":{"id":2}})", error));
}

TEST(QemuJsonWriter, NumbersAndStringsAsQemu) {
  EXPECT_EQ(to_qemu_json(json::parse("1e3")), "1000");
  EXPECT_EQ(to_qemu_json(json::parse("-0.0")), "-0");
  EXPECT_EQ(to_qemu_json(json::parse("0.1")), "0.10000000000000001");
  EXPECT_EQ(to_qemu_json(json("caf\xc3\xa9\n\x01")), R"("caf\u00E9\n\u0001")");
  EXPECT_EQ(to_qemu_json(json("\xf0\x9f\x98\x80")), R"("\uD83D\uDE00")");
  EXPECT_EQ(to_qemu_json(json::parse(R"({"error":{"desc":"d","class":"c"}})")),
            R"({"error": {"class": "c", "desc": "d"}})");
}

}  // namespace
}  // namespace vnet::qmp
