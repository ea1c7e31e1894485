// JsonFramer - cuts a QMP byte stream into whole top-level JSON texts.
//
// QMP has no message delimiter: like QEMU's json-streamer, a message ends
// where its outermost brace or bracket closes. This only finds the ends
// (tracking strings and escapes); the text is parsed afterwards. A control
// character resets it, as QEMU's lexer does.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace vnet::qmp {

struct FramedText {
  std::string text;
  std::string error;  // non-empty: the bytes were not a JSON text we accept
};

class JsonFramer {
 public:
  // Limits as QEMU's json-streamer: nesting depth, and (ours) one message's
  // size, so a client cannot make the daemon buffer without bound.
  static constexpr int kMaxDepth = 1024;
  static constexpr size_t kMaxMessageBytes = 1 << 20;

  // Appends bytes and returns every text completed by them.
  std::vector<FramedText> feed(std::string_view bytes);

  bool idle() const { return current_.empty() && depth_ == 0 && !skipping_; }

 private:
  // One byte: recovery after an error, skipping an over-long message, or
  // appending to the current one.
  void take(char c, std::vector<FramedText>& out);
  void skip(char c);
  void append(char c, std::vector<FramedText>& out);
  // Inside a string: whether c ends it (an unescaped closing quote).
  bool string_ends_at(char c);
  void finish(std::vector<FramedText>& out);
  void fail(std::vector<FramedText>& out, std::string why);

  std::string current_;
  int depth_ = 0;
  bool in_string_ = false;
  char quote_ = '"';      // QEMU also takes single-quoted strings
  bool escaped_ = false;
  bool in_scalar_ = false;  // a bare number or keyword at top level
  bool skipping_ = false;
  bool recovering_ = false; // after a lexical error, until a resynchronisation point   // discarding the rest of an over-long message
};

}  // namespace vnet::qmp
