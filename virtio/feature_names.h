// feature_names - virtio feature bits by the names the virtio spec and
// iproute2's `vdpa` print (CSUM, MRG_RXBUF, VERSION_1...).
#pragma once

#include <cstdint>

namespace vnet::virtio {

// The name of a feature bit of a network device, transport bits included;
// nullptr for a bit with no name here. Transport bits are named whatever
// the device (`network` false).
const char* feature_name(unsigned bit, bool network);

}  // namespace vnet::virtio
