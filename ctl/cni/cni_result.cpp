#include "ctl/cni/cni_result.h"

#include <arpa/inet.h>

#include "ctl/cni/cni_version.h"
#include "ctl/cni/ip_text.h"

namespace vnet::cni {

using json = nlohmann::ordered_json;

namespace {

tl::unexpected<CniError> bad(const std::string& what, const json& value) {
  return fail(kDecodingFailure, "could not parse result: " + what, value.dump());
}

// An optional string member ("" when absent).
Expected<std::string> string_member(const json& object, const char* key, const std::string& where) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return std::string();
  if (!it->is_string()) return bad(where + "." + key + " is not a string", object);
  return it->get<std::string>();
}

Expected<std::optional<int64_t>> int_member(const json& object, const char* key, const std::string& where) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return std::optional<int64_t>();
  if (!it->is_number_integer()) return bad(where + "." + key + " is not an integer", object);
  return std::optional<int64_t>(it->get<int64_t>());
}

Expected<std::vector<std::string>> string_list(const json& object, const char* key, const std::string& where) {
  std::vector<std::string> out;
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return out;
  if (!it->is_array()) return bad(where + "." + key + " is not a list", object);
  for (const auto& item : *it) {
    if (!item.is_string()) return bad(where + "." + key + " holds a non-string", object);
    out.push_back(item.get<std::string>());
  }
  return out;
}

Expected<std::string> checked_cidr(const json& object, const char* key, const std::string& where) {
  auto text = string_member(object, key, where);
  if (!text) return text;
  if (!parse_cidr(*text)) return bad(where + "." + key + " is not an address in CIDR notation", object);
  return text;
}

Expected<std::string> checked_ip(const json& object, const char* key, const std::string& where) {
  auto text = string_member(object, key, where);
  if (!text) return text;
  if (!text->empty() && !parse_ip(*text)) return bad(where + "." + key + " is not an IP address", object);
  return text;
}

Expected<Route> parse_route(const json& value, const std::string& where) {
  if (!value.is_object()) return bad(where + " is not an object", value);
  Route route;
  auto dst = checked_cidr(value, "dst", where);
  if (!dst) return tl::unexpected(dst.error());
  route.dst = *dst;
  auto gw = checked_ip(value, "gw", where);
  if (!gw) return tl::unexpected(gw.error());
  route.gw = *gw;
  using IntField = std::pair<const char*, int64_t*>;
  for (auto [key, field] : {IntField{"mtu", &route.mtu}, IntField{"advmss", &route.advmss},
                            IntField{"priority", &route.priority}}) {
    auto number = int_member(value, key, where);
    if (!number) return tl::unexpected(number.error());
    *field = number->value_or(0);
  }
  auto table = int_member(value, "table", where);
  if (!table) return tl::unexpected(table.error());
  route.table = *table;
  auto scope = int_member(value, "scope", where);
  if (!scope) return tl::unexpected(scope.error());
  route.scope = *scope;
  return route;
}

Expected<std::vector<Route>> parse_routes(const json& object, const std::string& where) {
  std::vector<Route> out;
  auto it = object.find("routes");
  if (it == object.end() || it->is_null()) return out;
  if (!it->is_array()) return bad(where + ".routes is not a list", object);
  for (size_t i = 0; i < it->size(); i++) {
    auto route = parse_route((*it)[i], where + ".routes[" + std::to_string(i) + "]");
    if (!route) return tl::unexpected(route.error());
    out.push_back(std::move(*route));
  }
  return out;
}

// 0.1.0 and 0.2.0: "ip4"/"ip6" {ip, gateway, routes}.
Expected<void> parse_02x_family(const json& text, const char* key, SuccessResult& out) {
  auto it = text.find(key);
  if (it == text.end() || it->is_null()) return {};
  if (!it->is_object()) return bad(std::string(key) + " is not an object", text);
  IpConfig ip;
  auto address = checked_cidr(*it, "ip", key);
  if (!address) return tl::unexpected(address.error());
  ip.address = *address;
  auto gateway = checked_ip(*it, "gateway", key);
  if (!gateway) return tl::unexpected(gateway.error());
  ip.gateway = *gateway;
  out.ips.push_back(std::move(ip));
  auto routes = parse_routes(*it, key);
  if (!routes) return tl::unexpected(routes.error());
  out.routes.insert(out.routes.end(), routes->begin(), routes->end());
  return {};
}

json route_json(const Route& route, bool full) {
  json out = {{"dst", route.dst}};
  if (!route.gw.empty()) out["gw"] = route.gw;
  if (!full) return out;  // 0.2.0's routes are dst and gw only
  if (route.mtu) out["mtu"] = route.mtu;
  if (route.advmss) out["advmss"] = route.advmss;
  if (route.priority) out["priority"] = route.priority;
  if (route.table) out["table"] = *route.table;
  if (route.scope) out["scope"] = *route.scope;
  return out;
}

json dns_json(const Dns& dns) {
  json out = json::object();
  if (!dns.nameservers.empty()) out["nameservers"] = dns.nameservers;
  if (!dns.domain.empty()) out["domain"] = dns.domain;
  if (!dns.search.empty()) out["search"] = dns.search;
  if (!dns.options.empty()) out["options"] = dns.options;
  return out;
}

bool is_v4(const std::string& cidr_or_ip) { return cidr_or_ip.find(':') == std::string::npos; }

}  // namespace

Expected<Dns> parse_dns(const json& dns) {
  Dns out;
  if (dns.is_null()) return out;
  if (!dns.is_object()) return bad("dns is not an object", dns);
  auto nameservers = string_list(dns, "nameservers", "dns");
  if (!nameservers) return tl::unexpected(nameservers.error());
  out.nameservers = std::move(*nameservers);
  auto domain = string_member(dns, "domain", "dns");
  if (!domain) return tl::unexpected(domain.error());
  out.domain = std::move(*domain);
  auto search = string_list(dns, "search", "dns");
  if (!search) return tl::unexpected(search.error());
  out.search = std::move(*search);
  auto options = string_list(dns, "options", "dns");
  if (!options) return tl::unexpected(options.error());
  out.options = std::move(*options);
  return out;
}

Expected<SuccessResult> parse_result(const json& text, std::string_view fallback_version) {
  if (!text.is_object()) return bad("not an object", text);
  std::string version(fallback_version);
  if (auto it = text.find("cniVersion"); it != text.end() && it->is_string() && !it->get<std::string>().empty()) {
    version = it->get<std::string>();
  }
  if (!version_supported(version)) {
    return fail(kIncompatibleVersion, "result of an unsupported version \"" + version + "\"",
                "supported: " + supported_versions_text());
  }
  SuccessResult out;
  auto dns = parse_dns(text.contains("dns") ? text["dns"] : json());
  if (!dns) return tl::unexpected(dns.error());
  out.dns = std::move(*dns);

  if (!at_least(version, "0.3.0")) {
    for (const char* family : {"ip4", "ip6"}) {
      if (auto parsed = parse_02x_family(text, family, out); !parsed) return tl::unexpected(parsed.error());
    }
    return out;
  }

  if (auto it = text.find("interfaces"); it != text.end() && !it->is_null()) {
    if (!it->is_array()) return bad("interfaces is not a list", text);
    for (size_t i = 0; i < it->size(); i++) {
      const json& value = (*it)[i];
      std::string where = "interfaces[" + std::to_string(i) + "]";
      if (!value.is_object()) return bad(where + " is not an object", value);
      Interface interface;
      using StringField = std::pair<const char*, std::string*>;
      for (auto [key, field] : {StringField{"name", &interface.name}, StringField{"mac", &interface.mac},
                                StringField{"sandbox", &interface.sandbox},
                                StringField{"socketPath", &interface.socket_path},
                                StringField{"pciID", &interface.pci_id}}) {
        auto member = string_member(value, key, where);
        if (!member) return tl::unexpected(member.error());
        *field = std::move(*member);
      }
      auto mtu = int_member(value, "mtu", where);
      if (!mtu) return tl::unexpected(mtu.error());
      if (*mtu && **mtu < 0) return bad(where + ".mtu is negative", value);
      if (*mtu && **mtu > 0) interface.mtu = static_cast<uint64_t>(**mtu);
      out.interfaces.push_back(std::move(interface));
    }
  }
  if (auto it = text.find("ips"); it != text.end() && !it->is_null()) {
    if (!it->is_array()) return bad("ips is not a list", text);
    for (size_t i = 0; i < it->size(); i++) {
      const json& value = (*it)[i];
      std::string where = "ips[" + std::to_string(i) + "]";
      if (!value.is_object()) return bad(where + " is not an object", value);
      IpConfig ip;
      auto address = checked_cidr(value, "address", where);
      if (!address) return tl::unexpected(address.error());
      if (address->empty()) return bad(where + ".address is missing", value);
      ip.address = *address;
      auto gateway = checked_ip(value, "gateway", where);
      if (!gateway) return tl::unexpected(gateway.error());
      ip.gateway = *gateway;
      auto interface = int_member(value, "interface", where);
      if (!interface) return tl::unexpected(interface.error());
      ip.interface = *interface;
      out.ips.push_back(std::move(ip));
    }
  }
  auto routes = parse_routes(text, "result");
  if (!routes) return tl::unexpected(routes.error());
  out.routes = std::move(*routes);
  return out;
}

Expected<json> result_json(const SuccessResult& result, std::string_view version) {
  json out = {{"cniVersion", std::string(version)}};
  if (!at_least(version, "0.3.0")) {
    // As libcni's convertTo02x: the first address of each family, and the
    // routes of the families that have one.
    const IpConfig* first[2] = {nullptr, nullptr};
    for (const auto& ip : result.ips) {
      auto& slot = first[is_v4(ip.address) ? 0 : 1];
      if (!slot) slot = &ip;
    }
    if (!first[0] && !first[1]) {
      return fail(kIncompatibleVersion, "cannot convert the result to " + std::string(version) + ": no IP address",
                  "0.1.0 and 0.2.0 results need an address: configure \"ipam\", or use cniVersion 0.3.0 or later");
    }
    for (int family = 0; family < 2; family++) {
      if (!first[family]) continue;
      json ip = {{"ip", first[family]->address}};
      if (!first[family]->gateway.empty()) ip["gateway"] = first[family]->gateway;
      json routes = json::array();
      for (const auto& route : result.routes) {
        if (is_v4(route.dst) == (family == 0)) routes.push_back(route_json(route, false));
      }
      if (!routes.empty()) ip["routes"] = routes;
      out[family == 0 ? "ip4" : "ip6"] = ip;
    }
    if (!result.dns.empty()) out["dns"] = dns_json(result.dns);
    return out;
  }

  bool v1 = at_least(version, "1.0.0");
  if (!result.interfaces.empty()) {
    json interfaces = json::array();
    for (const auto& interface : result.interfaces) {
      json entry = {{"name", interface.name}};
      if (!interface.mac.empty()) entry["mac"] = interface.mac;
      if (v1 && interface.mtu) entry["mtu"] = *interface.mtu;
      if (!interface.sandbox.empty()) entry["sandbox"] = interface.sandbox;
      if (v1 && !interface.socket_path.empty()) entry["socketPath"] = interface.socket_path;
      if (v1 && !interface.pci_id.empty()) entry["pciID"] = interface.pci_id;
      interfaces.push_back(std::move(entry));
    }
    out["interfaces"] = std::move(interfaces);
  }
  if (!result.ips.empty()) {
    json ips = json::array();
    for (const auto& ip : result.ips) {
      json entry = json::object();
      if (!v1) entry["version"] = is_v4(ip.address) ? "4" : "6";
      if (ip.interface) entry["interface"] = *ip.interface;
      entry["address"] = ip.address;
      if (!ip.gateway.empty()) entry["gateway"] = ip.gateway;
      ips.push_back(std::move(entry));
    }
    out["ips"] = std::move(ips);
  }
  if (!result.routes.empty()) {
    json routes = json::array();
    for (const auto& route : result.routes) routes.push_back(route_json(route, true));
    out["routes"] = std::move(routes);
  }
  if (!result.dns.empty()) out["dns"] = dns_json(result.dns);
  return out;
}

}  // namespace vnet::cni
