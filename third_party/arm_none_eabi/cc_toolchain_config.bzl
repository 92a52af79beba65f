"""arm-none-eabi-gcc (Debian gcc-arm-none-eabi 12.2, newlib) as a Bazel 4 C toolchain.

The compiler is the system one at /usr/bin, so the build needs no download.
Architecture flags go to compile and link alike: the link picks the matching
multilib (thumb/v7e-m+fp/hard) of newlib and libgcc.
"""

load("@bazel_tools//tools/build_defs/cc:action_names.bzl", "ACTION_NAMES")
load(
    "@bazel_tools//tools/cpp:cc_toolchain_config_lib.bzl",
    "feature",
    "flag_group",
    "flag_set",
    "tool_path",
)

_GCC_VERSION = "12.2.1"

_COMPILE_ACTIONS = [
    ACTION_NAMES.assemble,
    ACTION_NAMES.preprocess_assemble,
    ACTION_NAMES.c_compile,
    ACTION_NAMES.cpp_compile,
]

_LINK_ACTIONS = [
    ACTION_NAMES.cpp_link_executable,
    ACTION_NAMES.cpp_link_dynamic_library,
    ACTION_NAMES.cpp_link_nodeps_dynamic_library,
]

def _flags(actions, flags):
    return flag_set(actions = actions, flag_groups = [flag_group(flags = flags)])

def _impl(ctx):
    arch = ctx.attr.arch_flags
    features = [
        feature(
            name = "arch_and_sections",
            enabled = True,
            flag_sets = [
                _flags(_COMPILE_ACTIONS, arch + [
                    "-ffunction-sections",
                    "-fdata-sections",
                    "-g",
                ]),
                _flags(_LINK_ACTIONS, arch + ["-Wl,--gc-sections"]),
            ],
        ),
        # Firmware is always optimised: an unoptimised Cortex-M build is not
        # what anyone ships, and instruction counts are measured on it.
        feature(name = "opt", provides = ["compilation_mode"]),
        feature(name = "dbg", provides = ["compilation_mode"]),
        feature(name = "fastbuild", provides = ["compilation_mode"]),
        feature(
            name = "optimize",
            enabled = True,
            flag_sets = [_flags(_COMPILE_ACTIONS, ["-O2"])],
        ),
        feature(name = "supports_pic", enabled = False),
    ]
    tools = {
        "gcc": "gcc",
        "ld": "ld",
        "ar": "ar",
        "cpp": "cpp",
        "gcov": "gcov",
        "nm": "nm",
        "objcopy": "objcopy",
        "objdump": "objdump",
        "strip": "strip",
    }
    return cc_common.create_cc_toolchain_config_info(
        ctx = ctx,
        toolchain_identifier = "arm-none-eabi-" + ctx.attr.cpu,
        host_system_name = "x86_64-linux-gnu",
        target_system_name = "arm-none-eabi",
        target_cpu = ctx.attr.cpu,
        target_libc = "newlib",
        compiler = "gcc",
        abi_version = "eabi",
        abi_libc_version = "newlib",
        features = features,
        tool_paths = [
            tool_path(name = name, path = "/usr/bin/arm-none-eabi-" + tool)
            for name, tool in tools.items()
        ],
        cxx_builtin_include_directories = [
            "/usr/lib/gcc/arm-none-eabi/%s/include" % _GCC_VERSION,
            "/usr/lib/gcc/arm-none-eabi/%s/include-fixed" % _GCC_VERSION,
            "/usr/include/newlib",
            "/usr/lib/arm-none-eabi/include",
        ],
    )

arm_none_eabi_toolchain_config = rule(
    implementation = _impl,
    attrs = {
        "cpu": attr.string(mandatory = True),
        "arch_flags": attr.string_list(mandatory = True),
    },
    provides = [CcToolchainConfigInfo],
)
