// The one place that maps a netdev type to the backend that builds it.
#pragma once

#include <memory>

#include "backends/backend.h"
#include "backends/hubport/hub.h"
#include "ctl/qmp/qmp_error.h"
#include "qapi_types.h"

namespace vnet {

// What backends may use of the daemon while being created.
struct BackendEnv {
  HubSet& hubs;
};

// Builds the backend for a netdev whose options passed the schema and the
// registry's checks (id, duplicates, peers). Failures carry the QMP error.
QmpResult<std::unique_ptr<Backend>> create_backend(const qapi::Netdev& netdev, BackendEnv& env);

}  // namespace vnet
