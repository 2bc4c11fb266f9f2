/* The integer kernels of the plain NEON tier (any ARMv8-A CPU: Cortex-A53, A72): int8 products
 * widened to int16 with smull and pairwise-added into int32 lanes. The kernels are in
 * arm_int8.h, shared with the dotprod tier. */
#if defined(__aarch64__)
#define ARM_TIER(name) name##_neon
#define ARM_ATTR
#define ARM_SDOT 0
#include "kernels/arm/arm_int8.h"
#endif
