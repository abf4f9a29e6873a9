{
  "targets": [
    {
      "target_name": "bpf_native",
      "sources": [
        "native/addon.cc",
        "native/errors.cc",
        "native/object.cc",
        "native/btf.cc",
        "native/map.cc",
        "native/map_batch.cc",
        "native/map_mmap.cc",
        "native/program.cc",
        "native/link.cc",
        "native/ring_buffer.cc",
        "native/perf_buffer.cc",
        "native/cpu.cc",
        "native/grid.cc",
        "native/sys.cc"
      ],
      "include_dirs": [
        "<(module_root_dir)/build-libbpf/root/include",
        "<!(node -p \"require('node-addon-api').include_dir\")"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_CPP_EXCEPTIONS",
        "NBPF_LIBBPF_RELEASE=\"<!(node -p \"require('./deps/libbpf.json').version\")\""
      ],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers"],
      # Every import is bound when the addon loads (full RELRO), not at its first call:
      # lazy binding cost a process's first start ~0.1 ms in bpf_object__open alone.
      "ldflags": [
        "-Wl,-z,now"
      ],
      "libraries": [
        "<(module_root_dir)/build-libbpf/root/lib/libbpf.a",
        "-lelf",
        "-lz",
        "-Wl,--exclude-libs,ALL"
      ]
    }
  ]
}
