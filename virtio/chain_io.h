// chain_io - moving a network frame between a popped Chain and the host: out
// of its readable part (what the driver sends) and into its writable part (a
// receive buffer), each behind a virtio-net header, by copy or as iovecs for
// readv/writev. Never past the chain's segments, whatever the lengths asked.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "virtio/device_queue.h"

namespace vnet::virtio {

// copy_from_chain() - the chain's readable bytes after the first @skip (the
// header the driver put in front of the frame, which may span segments).
// @out: where they go, filled in order.
// Returns how many bytes were copied: the smaller of what the chain holds
// past @skip (0 when it holds no more than @skip) and the room in @out.
size_t copy_from_chain(const Chain& chain, size_t skip, std::span<uint8_t> out);
size_t copy_from_chain(const Chain& chain, size_t skip, std::span<const iovec> out);

// readable_in_place() - the chain's readable bytes after the first @skip,
// when they lie in one segment: a view of guest memory, to send without
// copying. nullopt when they are split over segments or there are none.
std::optional<std::span<const uint8_t>> readable_in_place(const Chain& chain, size_t skip);

// copy_into_chain() - writes @header then @frame into the chain's writable
// part, as far as it has room.
// Returns the bytes written (header and frame): what push_used() and
// log_written() take. Less than header.size() + frame.size() means the buffer
// was too small.
size_t copy_into_chain(const Chain& chain, std::span<const uint8_t> header, std::span<const uint8_t> frame);

enum class ChainPart { readable, writable };

// IovecsMade - what chain_iovecs() filled: @count entries holding @bytes.
// @complete is false when @out had too few entries for the whole part.
struct IovecsMade {
  size_t count = 0;
  size_t bytes = 0;
  bool complete = true;
};

// chain_iovecs() - the chain's readable or writable part after its first
// @skip bytes as iovecs into guest memory, for a zero-copy writev()/readv().
IovecsMade chain_iovecs(const Chain& chain, ChainPart part, size_t skip, std::span<iovec> out);

}  // namespace vnet::virtio
