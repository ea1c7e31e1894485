#include "virtio/chain_io.h"

#include <algorithm>
#include <cstring>
#include <vector>

namespace vnet::virtio {

namespace {

// A position in a list of segments, moved forward by whole pieces that each
// lie in one segment.
class SegmentCursor {
 public:
  explicit SegmentCursor(const std::vector<Segment>& segments) : segments_(segments) {}

  // Moves past up to n bytes; returns how many there were.
  size_t skip(size_t n) {
    size_t done = 0;
    while (done < n) {
      std::span<uint8_t> piece = next(n - done);
      if (piece.empty()) break;
      done += piece.size();
    }
    return done;
  }

  // The next at most max bytes that lie in one segment (empty at the end).
  std::span<uint8_t> next(size_t max) {
    while (segment_ < segments_.size() && offset_ == segments_[segment_].host.size()) {
      segment_++;
      offset_ = 0;
    }
    if (segment_ == segments_.size() || max == 0) return {};
    std::span<uint8_t> piece = segments_[segment_].host.subspan(offset_);
    piece = piece.first(std::min(piece.size(), max));
    offset_ += piece.size();
    return piece;
  }

 private:
  const std::vector<Segment>& segments_;
  size_t segment_ = 0;
  size_t offset_ = 0;
};

// Copies from the cursor into out; returns the bytes copied.
size_t drain(SegmentCursor& from, std::span<uint8_t> out) {
  size_t done = 0;
  while (done < out.size()) {
    std::span<uint8_t> piece = from.next(out.size() - done);
    if (piece.empty()) break;
    std::memcpy(out.data() + done, piece.data(), piece.size());
    done += piece.size();
  }
  return done;
}

// Copies bytes into the cursor's segments; returns the bytes copied.
size_t fill(SegmentCursor& to, std::span<const uint8_t> bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    std::span<uint8_t> piece = to.next(bytes.size() - done);
    if (piece.empty()) break;
    std::memcpy(piece.data(), bytes.data() + done, piece.size());
    done += piece.size();
  }
  return done;
}

}  // namespace

size_t copy_from_chain(const Chain& chain, size_t skip, std::span<uint8_t> out) {
  SegmentCursor from(chain.readable);
  if (from.skip(skip) < skip) return 0;
  return drain(from, out);
}

size_t copy_from_chain(const Chain& chain, size_t skip, std::span<const iovec> out) {
  SegmentCursor from(chain.readable);
  if (from.skip(skip) < skip) return 0;
  size_t done = 0;
  for (const iovec& iov : out) {
    std::span<uint8_t> room(static_cast<uint8_t*>(iov.iov_base), iov.iov_len);
    size_t copied = drain(from, room);
    done += copied;
    if (copied < room.size()) break;
  }
  return done;
}

std::optional<std::span<const uint8_t>> readable_in_place(const Chain& chain, size_t skip) {
  for (size_t i = 0; i < chain.readable.size(); i++) {
    const std::span<uint8_t> host = chain.readable[i].host;
    if (skip >= host.size()) {
      skip -= host.size();
      continue;
    }
    // Found where the bytes begin: they must all be here, the segments after
    // this one empty.
    for (size_t rest = i + 1; rest < chain.readable.size(); rest++) {
      if (!chain.readable[rest].host.empty()) return std::nullopt;
    }
    return std::span<const uint8_t>(host.subspan(skip));
  }
  return std::nullopt;
}

size_t copy_into_chain(const Chain& chain, std::span<const uint8_t> header, std::span<const uint8_t> frame) {
  SegmentCursor to(chain.writable);
  size_t done = fill(to, header);
  if (done < header.size()) return done;
  return done + fill(to, frame);
}

IovecsMade chain_iovecs(const Chain& chain, ChainPart part, size_t skip, std::span<iovec> out) {
  SegmentCursor cursor(part == ChainPart::readable ? chain.readable : chain.writable);
  IovecsMade made;
  if (cursor.skip(skip) < skip) return made;
  for (std::span<uint8_t> piece = cursor.next(SIZE_MAX); !piece.empty(); piece = cursor.next(SIZE_MAX)) {
    if (made.count == out.size()) {
      made.complete = false;
      break;
    }
    out[made.count++] = iovec{piece.data(), piece.size()};
    made.bytes += piece.size();
  }
  return made;
}

}  // namespace vnet::virtio
