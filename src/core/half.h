// IEEE binary16 (half) and bfloat16 <-> float, without the compiler's _Float16
// (clang 14, which builds the fuzz harnesses, lacks it on x86). Rounding to
// half is to nearest, ties to even, as a (_Float16) cast rounds.
#pragma once
#include <stdint.h>

float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);
float bf16_to_f32(uint16_t h);
