"""Static rules about the initial weights' scale: one layer drawn far too wide, or gains that
are moderate per layer and multiply over depth. Read from the config alone, before training.
"""

from __future__ import annotations

import math

from mnist_doctor.config.schema import ExperimentConfig, Initializer, Layer, layer_label
from mnist_doctor.config.shapes import fan_ins
from mnist_doctor.doctor.findings import Finding

# An init whose spread is this many times He's std sqrt(2 / fan_in) makes pre-activations grow
# layer after layer (Glorot & Bengio 2010; He et al. 2015); 1-2x is normal tutorial practice.
LARGE_INIT_FACTOR = 3.0
# Keras's TruncatedNormal redraws beyond 2 std, which shrinks the real std by this factor.
TRUNCATED_NORMAL_STD_FACTOR = 0.8796
RELU_LIKE = ("relu", "leaky_relu", "elu", "gelu")
# Init gains multiplying to 10x (or 1/10) over at least 3 layers: the signal at the output is an
# order of magnitude off before training starts.
COMPOUND_LIMIT = 10.0
COMPOUND_MIN_LAYERS = 3


def _init_rms(init: Initializer) -> float | None:
    """Root-mean-square of a random initialiser's draws; None for named (scaled) ones."""
    if init.name in ("normal", "truncated_normal"):
        factor = TRUNCATED_NORMAL_STD_FACTOR if init.name == "truncated_normal" else 1.0
        return math.hypot(init.mean, init.stddev * factor)
    if init.name == "uniform":
        return math.hypot((init.low + init.high) / 2, (init.high - init.low) / math.sqrt(12))
    return None


def large_init_scale(config: ExperimentConfig) -> list[Finding]:
    """Weights drawn far wider than He's sqrt(2 / fan_in) blow pre-activations up by the same
    factor per layer: sigmoid/tanh saturate, softmax becomes overconfident, losses overflow."""
    fans = fan_ins(config)
    rows = []
    for index, layer in enumerate(config.layers):
        rms = _init_rms(layer.kernel_init) if layer.trainable else None
        if rms is None:
            continue
        he_std = math.sqrt(2 / fans[index])
        if rms >= LARGE_INIT_FACTOR * he_std:
            rows.append({"layer": layer_label(index, layer), "fan_in": fans[index],
                         "init_std": round(rms, 6), "he_std": round(he_std, 6),
                         "ratio": round(rms / he_std, 2)})
    if not rows:
        return []
    top = rows[0]
    return [Finding(
        "large_init_scale", "warning", layer=top["layer"],
        evidence={"layers": rows, "threshold_ratio": LARGE_INIT_FACTOR},
        message=(f"Layer {top['layer']} starts with weights of spread {top['init_std']:g}, "
                 f"{top['ratio']:g} times the He scale sqrt(2/{top['fan_in']}) = "
                 f"{top['he_std']:.3g} for its {top['fan_in']} inputs. Its outputs start huge, "
                 "which saturates activations and can make the loss overflow."),
        fix="Use kernel_init: he_normal (relu) or glorot_uniform (sigmoid/tanh/softmax).",
    )]


def _init_std(layer: Layer, fan_in: int) -> float | None:
    """The spread of a layer's initial weights: drawn, or from a named scaled initialiser."""
    rms = _init_rms(layer.kernel_init)
    if rms is not None:
        return rms
    fan_out = (layer.units or 0) if layer.type == "dense" else \
        (layer.filters or 0) * layer.kernel_size ** 2
    name = layer.kernel_init.name
    if name.startswith("he_"):
        return math.sqrt(2 / fan_in)
    if name.startswith("glorot_"):
        return math.sqrt(2 / (fan_in + fan_out))
    return math.sqrt(1 / fan_in) if name == "lecun_normal" else None


def deep_init_compounding(config: ExperimentConfig) -> list[Finding]:
    """Each layer scales the signal by its init spread over the spread that keeps it steady
    (He's sqrt(2/fan_in) before ReLU-like units, sqrt(1/fan_in) before the rest); over
    several layers these gains multiply. A gain of 2 per layer is harmless alone and 32x over
    five layers: the forward signal explodes (or, below 1, fades) although no single layer
    looks wrong."""
    fans, gains = fan_ins(config), {}
    for index, layer in enumerate(config.layers):
        if not layer.trainable or layer.kernel_init.is_constant:
            continue
        std = _init_std(layer, fans[index])
        if std is None:
            return []
        steady = math.sqrt((2 if layer.activation in RELU_LIKE else 1) / fans[index])
        gains[layer_label(index, layer)] = round(std / steady, 3)
    product = math.prod(gains.values())
    if len(gains) < COMPOUND_MIN_LAYERS or 1 / COMPOUND_LIMIT < product < COMPOUND_LIMIT:
        return []
    way = "grows" if product > 1 else "shrinks"
    return [Finding(
        "deep_init_compounding", "warning",
        evidence={"gains": gains, "product": round(product, 4), "limit": COMPOUND_LIMIT},
        message=(f"The initial weights scale the signal by "
                 f"{', '.join(f'{g:g}' for g in gains.values())} layer by layer "
                 f"({len(gains)} layers): together it {way} {product:.3g}x "
                 "from input to output, so the deep layers start saturated or exploding (or "
                 "silent) although each layer's spread looks moderate."),
        fix="Use kernel_init: he_normal (relu) or glorot_uniform (sigmoid/tanh/softmax) in "
            "every layer, which keeps each layer's gain near 1.",
    )]
