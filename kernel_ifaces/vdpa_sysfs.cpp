#include "kernel_ifaces/vdpa_sysfs.h"

#include <cerrno>
#include <filesystem>
#include <fstream>

namespace vnet::vdpa {

namespace {

namespace fs = std::filesystem;
const fs::path kDevices = "/sys/bus/vdpa/devices";
const fs::path kDrivers = "/sys/bus/vdpa/drivers";

Result<void> write_sysfs(const fs::path& path, const std::string& value) {
  std::ofstream file(path);
  if (!file) return errno_error("opening " + path.string());
  file << value;
  file.flush();
  if (!file) return errno_error("writing \"" + value + "\" to " + path.string());
  return {};
}

}  // namespace

Result<std::string> bound_driver(const std::string& device) {
  std::error_code ec;
  if (!fs::exists(kDevices / device, ec)) return Error{ENODEV, "no vDPA device \"" + device + "\" in " + kDevices.string()};
  fs::path link = fs::read_symlink(kDevices / device / "driver", ec);
  if (ec) return std::string();
  return link.filename().string();
}

Result<void> bind_driver(const std::string& device, const std::string& driver) {
  std::error_code ec;
  if (!fs::exists(kDrivers / driver, ec)) {
    return Error{ENOENT, "no vDPA driver \"" + driver + "\" (load its module: modprobe " + driver + ")"};
  }
  auto current = bound_driver(device);
  if (!current) return current.take_error();
  if (*current == driver) return {};
  if (!current->empty()) {
    if (auto unbound = write_sysfs(kDrivers / *current / "unbind", device); !unbound) return unbound;
  }
  return write_sysfs(kDrivers / driver / "bind", device);
}

Result<std::string> vhost_vdpa_node(const std::string& device) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(kDevices / device, ec)) {
    std::string name = entry.path().filename().string();
    if (name.rfind("vhost-vdpa-", 0) == 0) return "/dev/" + name;
  }
  return Error{ENODEV, "vDPA device \"" + device + "\" has no vhost-vdpa node (is it bound to vhost_vdpa?)"};
}

}  // namespace vnet::vdpa
