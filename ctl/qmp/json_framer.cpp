#include "ctl/qmp/json_framer.h"

namespace vnet::qmp {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
bool is_structural(char c) { return c == '{' || c == '}' || c == '[' || c == ']' || c == '"' || c == '\''; }

}  // namespace

void JsonFramer::finish(std::vector<FramedText>& out) {
  out.push_back(FramedText{std::move(current_), {}});
  current_.clear();
  in_scalar_ = false;
}

void JsonFramer::fail(std::vector<FramedText>& out, std::string why) {
  out.push_back(FramedText{{}, std::move(why)});
  current_.clear();
  in_scalar_ = in_string_ = escaped_ = false;
}

std::vector<FramedText> JsonFramer::feed(std::string_view bytes) {
  std::vector<FramedText> out;
  for (char c : bytes) take(c, out);
  return out;
}

void JsonFramer::take(char c, std::vector<FramedText>& out) {
  // As QEMU's lexer: a control character (other than whitespace outside a
  // string) is an error that resets the parser, which is how a client
  // gets back to a known state after sending half a message.
  auto byte = static_cast<unsigned char>(c);
  bool impossible = byte == 0xFE || byte == 0xFF;  // never in UTF-8
  bool control = byte < 0x20 && c != '\t';
  if (recovering_) {
    // As QEMU's IN_RECOVERY: skip to a structural or control character
    // (or an impossible byte) and start afresh there.
    if (!(control || impossible || std::string_view("[]{}:,").find(c) != std::string_view::npos)) return;
    recovering_ = false;
  }
  if (impossible || (byte < 0x20 && (in_string_ || (c != '\t' && c != '\r' && c != '\n')))) {
    fail(out, std::string("JSON parse error, stray '") + c + "'");
    depth_ = 0;
    skipping_ = false;
    recovering_ = true;
    return;
  }
  if (skipping_) return skip(c);
  if (depth_ == 0 && !in_string_) {
    if (in_scalar_ && (is_space(c) || is_structural(c))) finish(out);
    if (is_space(c)) return;
    if (c == '}' || c == ']') return fail(out, std::string("JSON parse error, unexpected '") + c + "'");
  }
  append(c, out);
}

bool JsonFramer::string_ends_at(char c) {
  if (escaped_) {
    escaped_ = false;
  } else if (c == '\\') {
    escaped_ = true;
  } else if (c == quote_) {
    in_string_ = false;
    return true;
  }
  return false;
}

// Finds the end of an over-long message, then resynchronises.
void JsonFramer::skip(char c) {
  if (in_string_) {
    if (string_ends_at(c) && depth_ == 0) skipping_ = false;  // it was a top-level string
  } else if (c == '"' || c == '\'') {
    in_string_ = true;
    quote_ = c;
  } else if (c == '{' || c == '[') {
    depth_++;
  } else if ((c == '}' || c == ']') && --depth_ <= 0) {
    depth_ = 0;
    skipping_ = false;
  }
}

void JsonFramer::append(char c, std::vector<FramedText>& out) {
  current_.push_back(c);
  if (in_string_) {
    if (string_ends_at(c) && depth_ == 0) finish(out);
  } else if (c == '"' || c == '\'') {
    in_string_ = true;
    quote_ = c;
  } else if (c == '{' || c == '[') {
    if (++depth_ > kMaxDepth) {
      fail(out, "JSON parse error, too deeply nested");
      skipping_ = true;
      return;
    }
  } else if (c == '}' || c == ']') {
    if (--depth_ == 0) finish(out);
  } else if (depth_ == 0) {
    in_scalar_ = true;
  }
  if (current_.size() > kMaxMessageBytes) {
    // Skip the rest of the message, keeping track of where it ends.
    bool was_in_string = in_string_, was_escaped = escaped_;
    fail(out, "JSON parse error, message too large");
    skipping_ = depth_ > 0 || was_in_string;
    in_string_ = skipping_ && was_in_string;
    escaped_ = skipping_ && was_escaped;
    if (!skipping_) depth_ = 0;
  }
}

}  // namespace vnet::qmp
