# CPU-only mirror of CMakeLists.txt's production addon for node-gyp and prebuildify (no CMake, no CUDA,
# no TensorRT, no test addon). The source lists come from native/sources.json, which CMakeLists.txt
# reads too.
{
  "variables": {
    "trt_vla_version": "<!(node -p \"require('./package.json').version\")",
    "trt_vla_git_revision": "<!(node scripts/git-revision.mjs)"
  },
  "target_defaults": {
    "include_dirs": ["native", "<!(node -p \"require('node-addon-api').include_dir\")"],
    "defines": [
      "NAPI_VERSION=8",
      "NODE_ADDON_API_DISABLE_DEPRECATED",
      "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS",
      "NAPI_CPP_EXCEPTIONS"
    ],
    "cflags!": ["-fno-exceptions"],
    "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-std=gnu++1y", "-std=gnu++20"],
    "cflags_cc": ["-std=c++17", "-fexceptions", "-frtti", "-fvisibility=hidden", "-O3", "-Wall", "-Wextra", "-Wno-unused-parameter"],
    "xcode_settings": {
      "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
      "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
      "OTHER_CPLUSPLUSFLAGS": ["-fvisibility=hidden", "-O3"]
    }
  },
  "targets": [
    {
      "target_name": "trt_vla",
      "sources": ["<!@(node scripts/native-sources.mjs common napi addon)"],
      "defines": [
        "TRT_VLA_VERSION=\"<(trt_vla_version)\"",
        "TRT_VLA_GIT_REVISION=\"<(trt_vla_git_revision)\"",
        "TRT_VLA_BUILD_SYSTEM=\"node-gyp\"",
        "TRT_VLA_CUDA_ARCHS=\"\"",
        "TRT_VLA_CUDA_REASON=\"CPU-only build (node-gyp / prebuilt binary); build from source with CMake for CUDA\"",
        "TRT_VLA_TENSORRT_REASON=\"CPU-only build (node-gyp / prebuilt binary); build from source with CMake on the Jetson for TensorRT\""
      ],
      "libraries": ["-lpthread", "-ldl"],
      "conditions": [
        ["target_arch=='x64'", { "dependencies": ["trt_vla_avx2", "trt_vla_avx512"] }],
        ["target_arch=='arm64'", { "dependencies": ["trt_vla_dotprod", "trt_vla_i8mm"] }]
      ]
    },
    {
      "target_name": "trt_vla_dotprod",
      "type": "static_library",
      "conditions": [
        ["target_arch=='arm64'", {
          "sources": ["<!@(node scripts/native-sources.mjs arm64_dotprod)"],
          "cflags_cc": ["-march=armv8.2-a+dotprod", "-fPIC"]
        }, {
          "type": "none"
        }]
      ]
    },
    {
      "target_name": "trt_vla_i8mm",
      "type": "static_library",
      "conditions": [
        ["target_arch=='arm64'", {
          "sources": ["<!@(node scripts/native-sources.mjs arm64_i8mm)"],
          "cflags_cc": ["-march=armv8.2-a+dotprod+i8mm", "-fPIC"]
        }, {
          "type": "none"
        }]
      ]
    },
    {
      "target_name": "trt_vla_avx2",
      "type": "static_library",
      "conditions": [
        ["target_arch=='x64'", {
          "sources": ["<!@(node scripts/native-sources.mjs x86_avx2)"],
          "cflags_cc": ["-mavx2", "-mfma", "-mf16c", "-fPIC"]
        }, {
          "type": "none"
        }]
      ]
    },
    {
      "target_name": "trt_vla_avx512",
      "type": "static_library",
      "conditions": [
        ["target_arch=='x64'", {
          "sources": ["<!@(node scripts/native-sources.mjs x86_avx512)"],
          "cflags_cc": ["-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512vnni", "-mavx2", "-mfma", "-mf16c", "-fPIC"]
        }, {
          "type": "none"
        }]
      ]
    },
    {
      "target_name": "build_info",
      "type": "none",
      "dependencies": ["trt_vla"],
      "actions": [{
        "action_name": "write_build_info",
        "inputs": ["<(PRODUCT_DIR)/trt_vla.node"],
        "outputs": ["<(PRODUCT_DIR)/build-info.json"],
        "action": ["node", "scripts/write-build-info.mjs", "<(PRODUCT_DIR)/trt_vla.node"]
      }]
    }
  ]
}
