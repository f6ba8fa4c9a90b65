"""Static rules: mistakes that can be read off the config before a single training step.

Each rule takes an `ExperimentConfig` and returns a list of findings (empty when the config is
fine), one finding per code at most, naming the first offending layer and listing the rest in
the evidence. Layer names follow the telemetry's `L<i>_<type>` so both halves of the
diagnosis point at the same layer.
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
# Activations whose slope at 0 is non-zero, so a zero-initialised layer still passes gradient.
_PASSES_GRADIENT_AT_ZERO = ("linear", "sigmoid", "tanh", "elu", "leaky_relu", "gelu")


def _trainable(config: ExperimentConfig) -> list[tuple[int, Layer]]:
    return [(index, layer) for index, layer in enumerate(config.layers) if layer.trainable]


def softmax_in_hidden_layer(config: ExperimentConfig) -> list[Finding]:
    """Softmax squeezes a hidden layer's outputs to sum to 1, so they are tiny and the
    gradients through them cancel out: the layers below it stop learning."""
    trainable = _trainable(config)
    hidden = [(i, layer) for i, layer in trainable[:-1] if layer.activation == "softmax"]
    if not hidden:
        return []
    index, layer = hidden[0]
    units = layer.units or layer.filters
    return [Finding(
        "softmax_in_hidden_layer", "error", layer=layer_label(index, layer),
        evidence={"layers": [layer_label(i, lay) for i, lay in hidden], "units": units,
                  "mean_output": round(1 / units, 6) if units else None},
        message=(f"Layer {layer_label(index, layer)} is a hidden layer with a softmax activation. "
                 f"Softmax forces its {units} outputs to add up to 1 (about {1 / units:.3g} "
                 "each), and the gradient flowing back through it mostly cancels, so the "
                 "layers before it barely learn or not at all."),
        fix=(f"Use relu on {layer_label(index, layer)} and keep softmax only on the last "
             "layer."),
    )]


def _can_break_symmetry(layer: Layer, following: Layer) -> bool:
    """A zero kernel still learns when its activation passes gradient at 0 and the next
    layer's random weights give each unit a different error signal."""
    return (layer.kernel_init.name == "zeros" and not following.kernel_init.is_constant
            and layer.activation in _PASSES_GRADIENT_AT_ZERO)


def constant_init(config: ExperimentConfig) -> list[Finding]:
    """Equal starting weights give every unit the same output and the same gradient, so the
    units stay copies of each other. The last layer is exempt: its units see different
    labels, which is why the tutorial's one-layer softmax regression with zeros works."""
    trainable = _trainable(config)
    offenders = [(i, layer, trainable[k + 1][1]) for k, (i, layer) in enumerate(trainable[:-1])
                 if layer.kernel_init.is_constant]
    if not offenders:
        return []
    index, layer, following = offenders[0]
    fatal = [o for o in offenders if not _can_break_symmetry(o[1], o[2])]
    severity = "error" if fatal else "warning"
    init = layer.kernel_init.to_yaml()
    return [Finding(
        "constant_init", severity, layer=layer_label(index, layer),
        evidence={"layers": [layer_label(i, lay) for i, lay, _ in offenders],
                  "kernel_init": init, "activation": layer.activation},
        message=(f"Layer {layer_label(index, layer)} starts with every weight equal "
                 f"(kernel_init: {init}) and feeds another trainable layer. All its units then "
                 "compute the same thing and get the same gradient, so they stay identical "
                 "and the layer acts like a single unit."),
        fix="Use a random kernel_init such as he_normal (relu) or glorot_uniform (others).",
    )]


def _collapsing_pairs(config: ExperimentConfig) -> list[tuple[str, str]]:
    """Pairs of trainable layers with only dropout/flatten between them (pooling is a max,
    which is non-linear) where the first applies no activation."""
    pairs, previous = [], None
    for index, layer in enumerate(config.layers):
        if layer.type == "max_pool2d":
            previous = None
        elif layer.trainable:
            if previous is not None and previous[1].activation == "linear":
                pairs.append((layer_label(*previous), layer_label(index, layer)))
            previous = (index, layer)
    return pairs


def missing_activation(config: ExperimentConfig) -> list[Finding]:
    """Two linear maps in a row are one linear map: the extra layer adds no power, and
    without an activation the network is only as good as a linear classifier."""
    pairs = _collapsing_pairs(config)
    if not pairs:
        return []
    first, second = pairs[0]
    return [Finding(
        "missing_activation", "error", layer=first,
        evidence={"pairs": [list(pair) for pair in pairs]},
        message=(f"Layer {first} has no activation (linear) and feeds layer {second}. Two "
                 "linear layers in a row collapse into a single linear map, so the hidden "
                 "layer adds nothing and large values pass straight through."),
        fix=f"Give {first} a non-linear activation such as relu.",
    )]


def double_softmax(config: ExperimentConfig) -> list[Finding]:
    """logits_crossentropy applies softmax itself; a softmax last layer applies it twice,
    squashing the outputs so the loss can never go below ~1.46 and gradients shrink."""
    last_index, last = _trainable(config)[-1]
    if config.loss != "logits_crossentropy" or last.activation != "softmax":
        return []
    return [Finding(
        "double_softmax", "error", layer=layer_label(last_index, last),
        evidence={"loss": config.loss, "last_activation": last.activation},
        message=("The last layer already applies softmax and the loss logits_crossentropy "
                 "applies softmax again. Probabilities between 0 and 1 fed into a second "
                 "softmax become nearly uniform, so gradients are weak and learning is slow."),
        fix="Make the last layer linear (keep logits_crossentropy), or use loss: crossentropy.",
    )]


def output_not_probabilities(config: ExperimentConfig) -> list[Finding]:
    """Cross-entropy takes the log of the outputs as probabilities; outputs that are negative,
    above 1 or not summing to 1 give log of nonsense (nan) or a loss that rewards nothing."""
    last_index, last = _trainable(config)[-1]
    if config.loss not in ("naive_log", "crossentropy") or last.activation == "softmax":
        return []
    return [Finding(
        "output_not_probabilities", "error", layer=layer_label(last_index, last),
        evidence={"loss": config.loss, "last_activation": last.activation},
        message=(f"The loss {config.loss} reads the last layer's outputs as probabilities, "
                 f"but that layer uses {last.activation}, so its outputs are not probabilities "
                 "(they can be negative, above 1, or not add up to 1) and log() of them is "
                 "meaningless or nan."),
        fix=("Use activation: softmax on the last layer, or keep it linear and use "
             "loss: logits_crossentropy."),
    )]


def unnormalized_input(config: ExperimentConfig) -> list[Finding]:
    """Raw pixels 0..255 make first-layer pre-activations and gradients ~255x larger than
    the initialisers and learning rates assume."""
    if config.data.normalize:
        return []
    return [Finding(
        "unnormalized_input", "warning",
        evidence={"normalize": False, "input_range": [0, 255], "expected_range": [0, 1]},
        message=("The input pixels are fed raw, from 0 to 255, instead of 0 to 1. The first "
                 "layer's sums and gradients are then about 255 times too large, which "
                 "saturates activations and makes a normal learning rate far too big."),
        fix="Set data.normalize: true (divide the pixels by 255).",
    )]


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


def mse_for_classification(config: ExperimentConfig) -> list[Finding]:
    """MSE on one-hot labels gives weak gradients once outputs saturate, and with softmax
    it learns far slower than cross-entropy; it still works, hence a warning."""
    if config.loss != "mse":
        return []
    return [Finding(
        "mse_for_classification", "warning",
        evidence={"loss": "mse"},
        message=("The loss is mean squared error, a regression loss. For choosing one digit "
                 "out of 10 it gives small, flat gradients and learns slowly."),
        fix="Use a softmax last layer with loss: crossentropy (or linear + logits_crossentropy).",
    )]


def summed_loss(config: ExperimentConfig) -> list[Finding]:
    """A loss summed over the batch (-sum(y*log(p)) over all examples) has a gradient
    batch_size times the mean's, so the learning rate acts that many times larger."""
    if config.loss_reduction != "sum":
        return []
    size = config.train.batch_size
    return [Finding(
        "summed_loss", "warning",
        evidence={"loss_reduction": "sum", "batch_size": size},
        message=(f"The loss is summed over each batch of {size} examples instead of averaged, "
                 f"so its gradient, and so each update, is {size} times larger than with the "
                 "mean: the learning rate acts as if it were that much bigger, and it changes "
                 "whenever the batch size does."),
        fix=(f"Average the loss over the batch (reduce_mean), or divide the learning rate by "
             f"{size}."),
    )]


STATIC_RULES = (softmax_in_hidden_layer, constant_init, missing_activation, double_softmax,
                output_not_probabilities, unnormalized_input, large_init_scale,
                mse_for_classification, summed_loss)


def static_findings(config: ExperimentConfig) -> list[Finding]:
    """Every static rule's findings, in rule order."""
    return [finding for rule in STATIC_RULES for finding in rule(config)]
