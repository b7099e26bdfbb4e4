{
  "targets": [
    {
      "target_name": "udp_gate",
      "sources": ["udp_gate.c"],
      "cflags": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-D_FORTIFY_SOURCE=2", "-fstack-protector-strong"],
      "ldflags": ["-Wl,-z,relro,-z,now"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
