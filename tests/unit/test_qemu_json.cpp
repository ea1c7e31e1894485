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

namespace vnet::qmp {
namespace {

// Objects of tens of thousands of members (a 1 MiB request) parse in linear
// time, in text order, and a duplicate anywhere is still found.
TEST(QemuJsonReader, LargeObjectsKeepTheirOrderAndDuplicatesAreFound) {
  std::string text = "{";
  for (int i = 0; i < 60000; i++) text += (i ? ",\"k" : "\"k") + std::to_string(i) + "\":" + std::to_string(i);
  std::string error;
  auto parsed = parse_qemu_json(text + "}", error);
  ASSERT_TRUE(parsed) << error;
  ASSERT_EQ(parsed->size(), 60000u);
  size_t i = 0;
  for (const auto& [key, value] : parsed->items()) {
    ASSERT_EQ(key, "k" + std::to_string(i));
    ASSERT_EQ(value, i);
    i++;
  }
  EXPECT_FALSE(parse_qemu_json(text + ",\"k59999\":0}", error));
  EXPECT_EQ(error, "JSON parse error, duplicate key");
  EXPECT_FALSE(parse_qemu_json("{\"a\":[1,{\"b\":2,\"b\":3}]}", error));
  EXPECT_EQ(error, "JSON parse error, duplicate key");
  EXPECT_TRUE(parse_qemu_json("{\"a\":{\"b\":1},\"c\":{\"b\":2}}", error)) << "the same key in two objects is fine";
}

}  // namespace
}  // namespace vnet::qmp
