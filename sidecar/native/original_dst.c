// SO_ORIGINAL_DST lookup for sockets redirected by iptables REDIRECT.
//
// Plain Node-API (no C++ wrapper): the ABI is stable across Node majors, so the
// addon built once at install keeps loading after a Node patch or minor upgrade.

#define NAPI_VERSION 8
#include <node_api.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

// Defined here rather than pulled from <linux/netfilter_ipv4.h> and
// <linux/netfilter_ipv6/ip6_tables.h>: those kernel UAPI headers redefine
// structures from <netinet/in.h>. The values are kernel ABI and never change.
#ifndef SO_ORIGINAL_DST
#define SO_ORIGINAL_DST 80
#endif
#ifndef IP6T_SO_ORIGINAL_DST
#define IP6T_SO_ORIGINAL_DST 80
#endif

static napi_value throw_errno(napi_env env, int fd, const char *syscall_name, const char *what,
                              int err) {
  char message[256];
  const char *hint = err == ENOENT
      ? " (no NAT/conntrack entry: the connection was not redirected by iptables)"
      : "";
  snprintf(message, sizeof message, "originalDst(fd %d): %s failed: %s%s", fd, what,
           strerror(err), hint);

  napi_value msg;
  napi_value error;
  napi_value code;
  napi_value errno_value;
  napi_value syscall;
  napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &msg);
  napi_create_error(env, NULL, msg, &error);
  // Same shape as Node's own system errors, so callers can switch on err.code.
  const char *code_name = err == ENOENT      ? "ENOENT"
                          : err == EBADF     ? "EBADF"
                          : err == ENOTSOCK  ? "ENOTSOCK"
                          : err == ENOPROTOOPT ? "ENOPROTOOPT"
                          : err == EINVAL    ? "EINVAL"
                          : err == EAFNOSUPPORT ? "EAFNOSUPPORT"
                                             : "EUNKNOWN";
  napi_create_string_utf8(env, code_name, NAPI_AUTO_LENGTH, &code);
  napi_create_int32(env, -err, &errno_value);
  napi_create_string_utf8(env, syscall_name, NAPI_AUTO_LENGTH, &syscall);
  napi_set_named_property(env, error, "code", code);
  napi_set_named_property(env, error, "errno", errno_value);
  napi_set_named_property(env, error, "syscall", syscall);
  napi_throw(env, error);
  return NULL;
}

static napi_value make_result(napi_env env, const char *address, int port, int family) {
  napi_value result;
  napi_value address_value;
  napi_value port_value;
  napi_value family_value;
  napi_create_object(env, &result);
  napi_create_string_utf8(env, address, NAPI_AUTO_LENGTH, &address_value);
  napi_create_int32(env, port, &port_value);
  napi_create_int32(env, family, &family_value);
  napi_set_named_property(env, result, "address", address_value);
  napi_set_named_property(env, result, "port", port_value);
  napi_set_named_property(env, result, "family", family_value);
  return result;
}

static napi_value original_ipv4(napi_env env, int fd) {
  struct sockaddr_in dst;
  socklen_t len = sizeof dst;
  memset(&dst, 0, sizeof dst);
  if (getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &dst, &len) != 0) {
    return throw_errno(env, fd, "getsockopt", "getsockopt(SOL_IP, SO_ORIGINAL_DST)", errno);
  }
  char text[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &dst.sin_addr, text, sizeof text);
  return make_result(env, text, ntohs(dst.sin_port), 4);
}

static napi_value original_ipv6(napi_env env, int fd) {
  struct sockaddr_in6 dst;
  socklen_t len = sizeof dst;
  memset(&dst, 0, sizeof dst);
  if (getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, &dst, &len) != 0) {
    return throw_errno(env, fd, "getsockopt", "getsockopt(SOL_IPV6, IP6T_SO_ORIGINAL_DST)", errno);
  }
  char text[INET6_ADDRSTRLEN];
  inet_ntop(AF_INET6, &dst.sin6_addr, text, sizeof text);
  return make_result(env, text, ntohs(dst.sin6_port), 6);
}

static napi_value original_dst(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);

  napi_valuetype type = napi_undefined;
  if (argc >= 1) napi_typeof(env, argv[0], &type);
  if (type != napi_number) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "originalDst(fd): fd must be a number");
    return NULL;
  }
  int32_t fd;
  napi_get_value_int32(env, argv[0], &fd);
  if (fd < 0) {
    return throw_errno(env, fd, "getsockopt", "getsockopt", EBADF);
  }

  struct sockaddr_storage local;
  socklen_t local_len = sizeof local;
  if (getsockname(fd, (struct sockaddr *)&local, &local_len) != 0) {
    return throw_errno(env, fd, "getsockname", "getsockname", errno);
  }
  if (local.ss_family == AF_INET) return original_ipv4(env, fd);
  if (local.ss_family == AF_INET6) {
    // A dual-stack listener (Node's default on "::") accepts IPv4 peers as
    // v4-mapped IPv6 sockets; their conntrack entry is IPv4, so only SOL_IP finds it.
    const struct sockaddr_in6 *local6 = (const struct sockaddr_in6 *)&local;
    if (IN6_IS_ADDR_V4MAPPED(&local6->sin6_addr)) return original_ipv4(env, fd);
    return original_ipv6(env, fd);
  }
  return throw_errno(env, fd, "getsockname", "getsockname (not an IPv4/IPv6 socket)",
                     EAFNOSUPPORT);
}

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  napi_value fn;
  napi_create_function(env, "originalDst", NAPI_AUTO_LENGTH, original_dst, NULL, &fn);
  napi_set_named_property(env, exports, "originalDst", fn);
  return exports;
}
