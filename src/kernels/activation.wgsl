// activate(v) for the ACT parameter: 0 none, 1 GELU (tanh form), 2 SiLU, 3 GELU (exact, erf form),
// included (#include activation) by the kernels with a fused activation. Computed in f32.

// erfc(z) for z >= 0, Abramowitz & Stegun 7.1.26 (absolute error <= 1.5e-7): WGSL has no erf.
fn erfc_nonneg(z: f32) -> f32 {
  let t = 1.0 / (1.0 + 0.3275911 * z);
  let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  return poly * exp(-z * z);
}

fn activate(v: f32) -> f32 {
  if (ACT == 1u) {
    let c = 0.7978845608028654 * (v + 0.044715 * v * v * v);
    return 0.5 * v * (1.0 + tanh(clamp(c, -15.0, 15.0)));
  } else if (ACT == 2u) {
    return v / (1.0 + exp(-v));
  } else if (ACT == 3u) {
    // 0.5 v (1 + erf(v / sqrt 2)); for v < 0 as 0.5 v erfc(|v| / sqrt 2), which keeps its precision
    let c = erfc_nonneg(abs(v) * 0.7071067811865476);
    return select(0.5 * v * (2.0 - c), 0.5 * v * c, v < 0.0);
  }
  return v;
}
