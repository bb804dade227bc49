# Three targets share one set of channel sources (native/backdoor, native/vsock):
#  - vmtools_native:    the Node addon (node-addon-api, C++ exceptions on);
#                        also native/system (sd_notify, the hang detector thread)
#                        and native/vsock/tclo.c (TCLO over vsock, §6.4)
#  - vmware-rpctool:     a small C executable, drop-in for open-vm-tools' tool
#                        (a Node start alone costs ~40 ms; see docs/design.md)
#  - vmtoolsd_trap_shim: the LD_PRELOAD trap shim used with the VMX simulator
#  - vmtoolsd-runas:     guest operations' helper: initgroups/setgid/setuid,
#                        clean environment, then exec (native/runas/runas.c)
{
  "variables": {
    "hardening_cflags": [
      "-fstack-protector-strong", "-D_FORTIFY_SOURCE=2", "-fPIC",
      "-Wall", "-Wextra", "-Wno-unused-parameter", "-O2"
    ],
    "hardening_ldflags": ["-Wl,-z,relro", "-Wl,-z,now", "-Wl,-z,noexecstack"],
    "channel_sources": [
      "native/backdoor/backdoor.c",
      "native/backdoor/message.c",
      "native/backdoor/rpcout.c",
      "native/vsock/vsock.c"
    ]
  },
  "targets": [
    {
      "target_name": "vmtools_native",
      "sources": [
        "<@(channel_sources)",
        "native/system/sdnotify.c",
        "native/system/hangdetect.c",
        "native/system/fsfreeze.c",
        "native/vsock/tclo.c",
        "native/addon/addon.cc",
        "native/addon/clock.cc",
        "native/addon/freeze.cc",
        "native/addon/auth.cc",
        "native/system/sysclock.c"
      ],
      "libraries": ["-lpam"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "native"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags": ["<@(hardening_cflags)"],
      "cflags_c": ["-std=gnu11"],
      "cflags_cc": ["<@(hardening_cflags)", "-std=c++17", "-fexceptions"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "ldflags": ["<@(hardening_ldflags)"]
    },
    {
      "target_name": "vmware-rpctool",
      "type": "executable",
      "sources": [
        "<@(channel_sources)",
        "native/cli/rpctool.c"
      ],
      "include_dirs": ["native"],
      "cflags": ["<@(hardening_cflags)", "-std=gnu11", "-fPIE"],
      "ldflags": ["<@(hardening_ldflags)", "-pie"]
    },
    {
      "target_name": "vmtoolsd_trap_shim",
      "type": "shared_library",
      "sources": ["native/shim/shim.c"],
      "cflags": ["<@(hardening_cflags)", "-std=gnu11", "-fvisibility=hidden"],
      "ldflags": ["<@(hardening_ldflags)"],
      "libraries": ["-ldl"]
    },
    {
      "target_name": "vmtoolsd-freeze-holder",
      "type": "executable",
      "sources": ["native/system/fsfreeze.c", "native/system/freeze-holder.c"],
      "include_dirs": ["native"],
      "cflags": ["<@(hardening_cflags)", "-std=gnu11", "-fPIE"],
      "ldflags": ["<@(hardening_ldflags)", "-pie"]
    },
    {
      "target_name": "vmtoolsd-runas",
      "type": "executable",
      "sources": ["native/runas/runas.c"],
      "cflags": ["<@(hardening_cflags)", "-std=gnu11", "-fPIE"],
      "ldflags": ["<@(hardening_ldflags)", "-pie"]
    }
  ]
}
