#include "ctl/cli/vdpa_command.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstdlib>
#include <optional>

#include "kernel_ifaces/vdpa_genl.h"
#include "kernel_ifaces/vdpa_sysfs.h"
#include "virtio/feature_names.h"
#include "virtio/net_header.h"

namespace vnet::cli {

namespace {

using json = nlohmann::ordered_json;

// As print_features(): names where known, else the bit number.
json features_json(uint64_t features, bool net) {
  json out = json::array();
  for (int bit = 0; bit < 64; bit++) {
    if (!(features & (uint64_t{1} << bit))) continue;
    const char* name = virtio::feature_name(static_cast<unsigned>(bit), net);
    if (name) out.push_back(name);
    else out.push_back(bit);
  }
  return out;
}

std::string features_text(const json& names) {
  std::string out;
  for (const auto& name : names) out += " " + (name.is_string() ? name.get<std::string>() : "bit_" + name.dump());
  return out;
}

std::string mac_text(const vdpa::Mac& mac) {
  char text[18];
  std::snprintf(text, sizeof text, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
  return text;
}

int fail(const std::string& message) {
  std::fprintf(stderr, "vnetctl: %s\n", message.c_str());
  return 1;
}

void print(const json& value, bool json_output, const std::string& text) {
  if (json_output) std::puts(value.dump().c_str());
  else std::fputs(text.c_str(), stdout);
}

int mgmtdev_show(vdpa::Genl& genl, const std::string& handle, bool json_output) {
  auto devs = genl.mgmtdevs(handle);
  if (!devs) return fail(devs.error().message);
  json section = json::object();
  std::string text;
  for (const auto& dev : *devs) {
    json entry = json::object();
    text += dev.handle() + ": ";
    if (dev.classes) {
      json classes = json::array();
      for (int bit = 1; bit < 64; bit++) {
        if (*dev.classes & (uint64_t{1} << bit)) {
          classes.push_back(bit == 1 ? "net" : bit == 2 ? "block" : "< unknown class >");
        }
      }
      entry["supported_classes"] = classes;
      text += "\n  supported_classes" + features_text(classes);
    }
    if (dev.max_vqs) {
      entry["max_supported_vqs"] = *dev.max_vqs;
      text += "\n  max_supported_vqs " + std::to_string(*dev.max_vqs);
    }
    if (dev.features) {
      entry["dev_features"] = features_json(*dev.features, dev.classes && (*dev.classes & (1u << virtio::kIdNet)));
      text += "\n  dev_features" + features_text(entry["dev_features"]);
    }
    section[dev.handle()] = std::move(entry);
    text += "\n";
  }
  print(json{{"mgmtdev", section}}, json_output, text);
  return 0;
}

int dev_show(vdpa::Genl& genl, const std::string& name, bool json_output) {
  auto devs = genl.devices(name);
  if (!devs) return fail(devs.error().message);
  json section = json::object();
  std::string text;
  for (const auto& dev : *devs) {
    json entry = json::object();
    entry["type"] = dev.device_id == 1 ? "network" : dev.device_id == 2 ? "block" : "<unknown type>";
    entry["mgmtdev"] = dev.mgmtdev;
    if (dev.vendor_id) entry["vendor_id"] = *dev.vendor_id;
    if (dev.max_vqs) entry["max_vqs"] = *dev.max_vqs;
    if (dev.max_vq_size) entry["max_vq_size"] = *dev.max_vq_size;
    text += dev.name + ": type " + entry["type"].get<std::string>() + " mgmtdev " + dev.mgmtdev;
    for (const char* key : {"vendor_id", "max_vqs", "max_vq_size"}) {
      if (entry.contains(key)) text += std::string(" ") + key + " " + entry[key].dump();
    }
    text += "\n";
    section[dev.name] = std::move(entry);
  }
  print(json{{"dev", section}}, json_output, text);
  return 0;
}

int config_show(vdpa::Genl& genl, const std::string& name, bool json_output) {
  auto configs = genl.configs(name);
  if (!configs) return fail(configs.error().message);
  json section = json::object();
  std::string text;
  for (const auto& config : *configs) {
    json entry = json::object();
    text += config.name + ": ";
    if (config.device_id == virtio::kIdNet) {
      if (config.mac) {
        entry["mac"] = mac_text(*config.mac);
        text += "mac " + mac_text(*config.mac) + " ";
      }
      if (config.status) {
        // iproute2's keys carry a trailing space ("link ", "link_announce "):
        // kept, so that what parses `vdpa -j` parses this.
        bool up = *config.status & virtio::kNetSLinkUp;
        entry["link "] = up ? "up" : "down";
        entry["link_announce "] = bool(*config.status & virtio::kNetSAnnounce);
        text += std::string("link ") + (up ? "up" : "down") + " link_announce " +
                (entry["link_announce "].get<bool>() ? "true" : "false") + " ";
      }
      if (config.max_vqp) {
        entry["max_vq_pairs"] = *config.max_vqp;
        text += "max_vq_pairs " + std::to_string(*config.max_vqp) + " ";
      }
      if (config.mtu) {
        entry["mtu"] = *config.mtu;
        text += "mtu " + std::to_string(*config.mtu) + " ";
      }
      if (config.negotiated_features) {
        entry["negotiated_features"] = features_json(*config.negotiated_features, true);
        text += "\n  negotiated_features" + features_text(entry["negotiated_features"]);
      }
    }
    text += "\n";
    section[config.name] = std::move(entry);
  }
  print(json{{"config", section}}, json_output, text);
  return 0;
}

int vstats_show(vdpa::Genl& genl, const std::string& name, uint32_t queue, bool json_output) {
  auto stats = genl.vstats(name, queue);
  if (!stats) return fail(stats.error().message);
  json entry = json::object();
  bool control = stats->negotiated_features && (*stats->negotiated_features & (uint64_t{1} << 17)) &&
                 stats->max_vqp && queue == 2u * *stats->max_vqp;
  entry["queue_type"] = control ? "control_vq" : (queue & 1) ? "tx" : "rx";
  std::string text = name + ": queue_type " + entry["queue_type"].get<std::string>();
  for (const auto& [key, value] : stats->vendor) {
    entry[key] = value;
    text += " " + key + " " + std::to_string(value);
  }
  print(json{{"vstats", {{name, entry}}}}, json_output, text + "\n");
  return 0;
}

int driver_command(const std::vector<std::string>& words, bool json_output) {
  // dev driver show NAME | dev driver set NAME DRIVER
  if (words.size() == 4 && words[2] == "show") {
    auto driver = vdpa::bound_driver(words[3]);
    if (!driver) return fail(driver.error().message);
    print(json{{"driver", {{words[3], *driver}}}}, json_output, words[3] + ": driver " + *driver + "\n");
    return 0;
  }
  if (words.size() == 5 && words[2] == "set") {
    if (auto bound = vdpa::bind_driver(words[3], words[4]); !bound) return fail(bound.error().message);
    return 0;
  }
  return fail("usage: vnetctl vdpa dev driver show NAME | vnetctl vdpa dev driver set NAME vhost_vdpa|virtio_vdpa");
}

}  // namespace

Result<vdpa::NewDevice> parse_dev_add(const std::vector<std::string>& args) {
  vdpa::NewDevice device;
  for (size_t i = 0; i < args.size(); i += 2) {
    if (i + 1 >= args.size()) return Error::plain("vdpa dev add: '" + args[i] + "' needs a value");
    const std::string& key = args[i];
    const std::string& value = args[i + 1];
    // Both are u16 attributes (VDPA_ATTR_DEV_NET_CFG_MTU, _MAX_VQP).
    auto u16 = [&]() -> std::optional<uint16_t> {
      char* end = nullptr;
      unsigned long n = std::strtoul(value.c_str(), &end, 10);
      if (value.empty() || value[0] == '-' || *end || n > 65535) return std::nullopt;
      return static_cast<uint16_t>(n);
    };
    if (key == "name") {
      device.name = value;
    } else if (key == "mgmtdev") {
      device.mgmtdev = value;
    } else if (key == "mac") {
      device.mac = vdpa::parse_mac(value);
      if (!device.mac) return Error::plain("vdpa dev add: mac '" + value + "' is not a MAC address");
    } else if (key == "mtu") {
      device.mtu = u16();
      if (!device.mtu) return Error::plain("vdpa dev add: mtu '" + value + "' is not a number from 0 to 65535");
    } else if (key == "max_vqp") {
      device.max_vqp = u16();
      if (!device.max_vqp || *device.max_vqp == 0) {
        return Error::plain("vdpa dev add: max_vqp '" + value + "' is not a number from 1 to 65535");
      }
    } else {
      return Error::plain("vdpa dev add: unknown option '" + key + "' (name, mgmtdev, mac, mtu, max_vqp)");
    }
  }
  if (device.name.empty() || device.mgmtdev.empty()) return Error::plain("vdpa dev add: name and mgmtdev are required");
  return device;
}

int vdpa_command(const std::vector<std::string>& words, bool json_output) {
  const char* usage =
      "usage: vnetctl [-j] vdpa mgmtdev show [MGMTDEV]\n"
      "       vnetctl [-j] vdpa dev show [NAME]\n"
      "       vnetctl vdpa dev add name NAME mgmtdev MGMTDEV [mac MAC] [mtu MTU] [max_vqp N]\n"
      "       vnetctl vdpa dev del NAME\n"
      "       vnetctl [-j] vdpa dev config show [NAME]\n"
      "       vnetctl [-j] vdpa dev vstats show NAME qidx N\n"
      "       vnetctl [-j] vdpa dev driver show NAME | set NAME vhost_vdpa|virtio_vdpa\n"
      "       vnetctl [-j] vdpa selftest NAME [frames N] [timeout MS]   (run by vnetd)";
  // Help, and a request for no known object, need no kernel: the vdpa module
  // may not even be loaded on the host where someone first asks.
  if (words.empty() || words[0] == "help" || words[0] == "-h" || words[0] == "--help") {
    std::printf("%s\n", usage);
    return 0;
  }
  if (words[0] != "mgmtdev" && words[0] != "dev") return fail(usage);
  if (words.size() >= 2 && words[0] == "dev" && words[1] == "driver") return driver_command(words, json_output);
  // A malformed request is refused before the kernel is asked.
  std::optional<vdpa::NewDevice> new_device;
  if (words.size() >= 2 && words[0] == "dev" && words[1] == "add") {
    auto parsed = parse_dev_add({words.begin() + 2, words.end()});
    if (!parsed) return fail(parsed.error().message);
    new_device = std::move(*parsed);
  }
  auto genl = vdpa::Genl::connect();
  if (!genl) return fail(genl.error().message);
  auto arg = [&](size_t i) { return i < words.size() ? words[i] : std::string(); };
  if (arg(0) == "mgmtdev" && arg(1) == "show" && words.size() <= 3) return mgmtdev_show(*genl, arg(2), json_output);
  if (arg(0) == "dev" && arg(1) == "show" && words.size() <= 3) return dev_show(*genl, arg(2), json_output);
  if (new_device) {
    if (auto added = genl->add(*new_device); !added) return fail(added.error().message);
    return 0;
  }
  if (arg(0) == "dev" && arg(1) == "del" && words.size() == 3) {
    if (auto removed = genl->remove(arg(2)); !removed) return fail(removed.error().message);
    return 0;
  }
  if (arg(0) == "dev" && arg(1) == "config" && arg(2) == "show" && words.size() <= 4) {
    return config_show(*genl, arg(3), json_output);
  }
  if (arg(0) == "dev" && arg(1) == "vstats" && arg(2) == "show" && words.size() == 6 && arg(4) == "qidx") {
    char* end = nullptr;
    unsigned long queue = std::strtoul(arg(5).c_str(), &end, 10);
    if (arg(5).empty() || *end) return fail("vdpa dev vstats: qidx '" + arg(5) + "' is not a number");
    return vstats_show(*genl, arg(3), static_cast<uint32_t>(queue), json_output);
  }
  return fail(usage);
}

}  // namespace vnet::cli
