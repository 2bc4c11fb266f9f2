# CMake toolchain for aarch64 Linux with Debian's cross compiler (gcc-aarch64-linux-gnu,
# libc6-dev-arm64-cross) and qemu-user to run what it builds (qemu-user): ctest runs each test
# under `qemu-aarch64 -L /usr/aarch64-linux-gnu`; the CPU model comes from QEMU_CPU (tests/cross/run.sh
# sets cortex-a76, with dotprod, then cortex-a53, without).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(ELM_CROSS_TRIPLE aarch64-linux-gnu)
set(ELM_CROSS_SYSROOT /usr/${ELM_CROSS_TRIPLE})
set(CMAKE_C_COMPILER ${ELM_CROSS_TRIPLE}-gcc)

# Headers and libraries from the target's tree only; programs (cmake's own tools) from the host.
set(CMAKE_FIND_ROOT_PATH ${ELM_CROSS_SYSROOT})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64;-L;${ELM_CROSS_SYSROOT})
