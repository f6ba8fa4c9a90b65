"""Static rules: mistakes that can be read off the config before a single training step.

Each rule takes an `ExperimentConfig` and returns a list of findings (empty when the config is
fine), one finding per code at most, naming the first offending layer and listing the rest in
the evidence. Layer names follow the telemetry's `L<i>_<type>` so both halves of the
diagnosis point at the same layer.
"""

from __future__ import annotations

from mnist_doctor.config.schema import ExperimentConfig, Layer, layer_label
from mnist_doctor.doctor.findings import Finding
from mnist_doctor.doctor.rules.init_scale import deep_init_compounding, large_init_scale

# Activations whose slope at 0 is non-zero, so a zero-initialised layer still passes gradient.
_PASSES_GRADIENT_AT_ZERO = ("linear", "sigmoid", "tanh", "elu", "leaky_relu", "gelu")
# SGD with a summed loss steps lr x batch per unit of mean gradient; beyond 1 a 784-input layer
# overshoots at once (a step of 1 on the mean loss already diverges most MNIST nets).
SUMMED_STEP_LIMIT = 1.0


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
    # A jitter, at the start or at every update, can break the tie (README, forum note 3),
    # so it is a warning, not an error.
    rounding = config.optimizer.gradient_jitter
    fatal = [o for o in offenders
             if not (_can_break_symmetry(o[1], o[2]) or o[1].kernel_init.jitter or rounding)]
    severity = "error" if fatal else "warning"
    init, jitter = layer.kernel_init.to_yaml(), layer.kernel_init.jitter
    return [Finding(
        "constant_init", severity, layer=layer_label(index, layer),
        evidence={"layers": [layer_label(i, lay) for i, lay, _ in offenders],
                  "kernel_init": init, "activation": layer.activation},
        message=(f"Layer {layer_label(index, layer)} starts with every weight equal"
                 f"{f' up to a jitter of {jitter:g}' if jitter else ''}"
                 f" (kernel_init: {init}) and feeds another trainable layer. All its units then "
                 "compute the same thing and get the same gradient, so they stay identical "
                 + (f"but for what training makes of the {jitter:g} jitter"
                    if jitter else
                    f"but for what training makes of the {rounding:g} gradient jitter"
                    if rounding else "and the layer acts like a single unit") + "."),
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


# The last activations whose outputs each loss reads as probabilities without nonsense:
# naive_log takes log() of the raw outputs, so only a softmax gives a distribution;
# crossentropy first renormalises them to sum to 1 (Keras 2), which any positive output
# survives, so a sigmoid's outputs become a distribution too.
PROBABILITY_OUTPUTS = {"naive_log": ("softmax",), "crossentropy": ("softmax", "sigmoid")}


def output_not_probabilities(config: ExperimentConfig) -> list[Finding]:
    """Cross-entropy takes the log of the outputs as probabilities; outputs that are negative,
    zero for every class or (naive_log) not summing to 1 give log of nonsense (nan) or a loss
    that rewards nothing."""
    last_index, last = _trainable(config)[-1]
    allowed = PROBABILITY_OUTPUTS.get(config.loss)
    if allowed is None or last.activation in allowed:
        return []
    if config.loss == "naive_log":
        how = ("takes log() of the last layer's outputs as probabilities, but that layer uses "
               f"{last.activation}, so its outputs are not probabilities (they can be negative, "
               "above 1, or not add up to 1) and log() of them is meaningless or nan.")
    else:
        how = ("divides the last layer's outputs by their sum and takes log() of the result "
               f"as probabilities, but that layer uses {last.activation}: its outputs can be "
               "negative or all zero, so the 'probabilities' are nonsense, clipped, or nan.")
    return [Finding(
        "output_not_probabilities", "error", layer=layer_label(last_index, last),
        evidence={"loss": config.loss, "last_activation": last.activation},
        message=f"The loss {config.loss} {how}",
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


def summed_loss_large_batch(config: ExperimentConfig) -> list[Finding]:
    """A loss summed over the batch makes every gradient `batch_size` times the mean's: plain
    or momentum SGD then steps lr * batch_size. Adaptive optimisers divide the scale out."""
    effective = config.optimizer.learning_rate * config.train.batch_size
    if config.loss_reduction != "sum" or config.optimizer.name != "sgd" \
            or effective < SUMMED_STEP_LIMIT:
        return []
    return [Finding(
        "summed_loss_large_batch", "warning",
        evidence={"loss_reduction": "sum", "batch_size": config.train.batch_size,
                  "learning_rate": config.optimizer.learning_rate,
                  "effective_learning_rate": effective, "limit": SUMMED_STEP_LIMIT},
        message=(f"The loss is summed over batches of {config.train.batch_size}, so SGD's step "
                 f"is {config.optimizer.learning_rate:g} x {config.train.batch_size} = "
                 f"{effective:g} per unit of the mean loss's gradient: far larger than the "
                 "learning rate suggests."),
        fix="Set loss_reduction: mean (or divide the learning rate by the batch size).",
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


STATIC_RULES = (softmax_in_hidden_layer, constant_init, missing_activation, double_softmax,
                output_not_probabilities, unnormalized_input, large_init_scale,
                deep_init_compounding, mse_for_classification, summed_loss_large_batch)


def static_findings(config: ExperimentConfig) -> list[Finding]:
    """Every static rule's findings, in rule order."""
    return [finding for rule in STATIC_RULES for finding in rule(config)]
