/* The integer kernels of the dotprod tier (Cortex-A55, A76 as in the Raspberry Pi 5, A78AE as
 * in the Jetson Orin): sdot sums four int8 products into each int32 lane. The kernels are in
 * arm_int8.h, shared with the plain NEON tier; each is compiled for ARMv8.2-A + dotprod by its
 * target attribute, and installed only when the CPU reports the extension. */
#if defined(__aarch64__)
#include "kernels/arm/arm.h"
#if ELM__HAVE_DOTPROD
#define ARM_TIER(name) name##_dotprod
#define ARM_ATTR       ELM__DOTPROD
#define ARM_SDOT       1
#include "kernels/arm/arm_int8.h"
#endif
#endif
