"""The function table of the expression language: the only functions an expression can call.

Each entry is written once, as a signature line with the same parameter names as ``keras.ops``
(a test compares them with the installed Keras), and resolved to the Keras function its
`Signature.keras_path` names (``keras.ops.<name>``, ``keras.ops.image.<name>`` for image ops) only
when a model is built. Validation reads the table without importing keras.

The random draws (`RANDOM_OPS`: ``random_normal``, ``random_uniform``, ``random_bernoulli``) are a
table of their own:
they need a seed generator, which only a custom layer owns, so only a custom type's ``call`` may
use them (`declar.spec.expressions.call_context`); everywhere else they are unknown functions.

Example:
    >>> OPS["sum"].params
    ('x', 'axis', 'keepdims')
    >>> OPS["sum"].required
    1
"""

from __future__ import annotations

from dataclasses import dataclass

# "name(required, optional=, *varargs): summary". Grouped as the Keras docs group keras.ops.
_TABLE = """
abs(x): absolute value, element-wise
add(x1, x2): x1 + x2
subtract(x1, x2): x1 - x2
multiply(x1, x2): x1 * x2
divide(x1, x2): x1 / x2
negative(x): -x
power(x1, x2): x1 ** x2
mod(x1, x2): remainder of x1 / x2
square(x): x * x, element-wise
squared_difference(x1, x2): (x1 - x2) ** 2, element-wise (TensorFlow's tf.math.squared_difference)
sqrt(x): square root
rsqrt(x): 1 / sqrt(x)
reciprocal(x): 1 / x
exp(x): e ** x
log(x): natural logarithm
log1p(x): log(1 + x)
sign(x): -1, 0 or 1
floor(x): round down
ceil(x): round up
round(x, decimals=): round half to even
clip(x, x_min, x_max): limit values to [x_min, x_max]
sin(x): sine
cos(x): cosine
tanh(x): hyperbolic tangent
erf(x): error function
maximum(x1, x2): element-wise maximum
minimum(x1, x2): element-wise minimum
where(condition, x1=, x2=): x1 where condition holds, else x2
equal(x1, x2): x1 == x2
not_equal(x1, x2): x1 != x2
greater(x1, x2): x1 > x2
greater_equal(x1, x2): x1 >= x2
less(x1, x2): x1 < x2
less_equal(x1, x2): x1 <= x2
logical_and(x1, x2): element-wise and
logical_or(x1, x2): element-wise or
logical_not(x): element-wise not
sum(x, axis=, keepdims=): sum over axes
mean(x, axis=, keepdims=): mean over axes
max(x, axis=, keepdims=, initial=): maximum over axes
min(x, axis=, keepdims=, initial=): minimum over axes
prod(x, axis=, keepdims=, dtype=): product over axes
std(x, axis=, keepdims=): standard deviation over axes
var(x, axis=, keepdims=): variance over axes
norm(x, ord=, axis=, keepdims=): vector or matrix norm
any(x, axis=, keepdims=): any true over axes
all(x, axis=, keepdims=): all true over axes
argmax(x, axis=, keepdims=): index of the maximum
argmin(x, axis=, keepdims=): index of the minimum
cumsum(x, axis=, dtype=): cumulative sum
matmul(x1, x2): matrix product (also written x1 @ x2)
dot(x1, x2): dot product
tensordot(x1, x2, axes=): tensor contraction
einsum(subscripts, *operands): Einstein summation
outer(x1, x2): outer product
reshape(x, newshape): new shape, same data
transpose(x, axes=): permute axes
expand_dims(x, axis): insert an axis of size 1
squeeze(x, axis=): remove axes of size 1
concatenate(xs, axis=): join a list of tensors along an axis
stack(x, axis=): stack a list of tensors along a new axis
split(x, indices_or_sections, axis=): split into a list of tensors
tile(x, repeats): repeat the whole tensor
repeat(x, repeats, axis=): repeat elements
broadcast_to(x, shape): broadcast to a shape
swapaxes(x, axis1, axis2): exchange two axes
moveaxis(x, source, destination): move axes
take(x, indices, axis=): gather along an axis
take_along_axis(x, indices, axis=): gather with indices of the same rank as x (top-k values, ranks)
segment_sum(data, segment_ids, num_segments=, sorted=): sum of the rows of data in each segment (graph networks)
segment_max(data, segment_ids, num_segments=, sorted=): maximum of the rows of data in each segment
arange(start, stop=, step=, dtype=): evenly spaced values in [start, stop), e.g. positions
zeros(shape, dtype=): a tensor of zeros
ones(shape, dtype=): a tensor of ones
eye(N, M=, k=, dtype=): an identity matrix (ones on the k-th diagonal)
tril(x, k=): lower triangle (causal masks)
triu(x, k=): upper triangle
pad(x, pad_width, mode=, constant_values=): pad with a constant, or by reflection
flip(x, axis=): reverse the order along axes
roll(x, shift, axis=): shift elements along an axis, wrapping around
sort(x, axis=): sorted values along an axis
argsort(x, axis=): indices that sort along an axis
top_k(x, k, sorted=): the k largest values and their indices, as a pair (values, indices)
cumprod(x, axis=, dtype=): cumulative product
logsumexp(x, axis=, keepdims=): log(sum(exp(x))), computed stably
one_hot(x, num_classes, axis=, dtype=, sparse=): one-hot encoding
cast(x, dtype): change dtype (dtype given as a string, e.g. "float32")
shape(x): static shape as a tuple
ones_like(x, dtype=): ones of the same shape
zeros_like(x, dtype=): zeros of the same shape
full_like(x, fill_value, dtype=): constant of the same shape
stop_gradient(variable): block gradients
relu(x): max(x, 0)
relu6(x): min(max(x, 0), 6)
sigmoid(x): logistic sigmoid
hard_sigmoid(x): piecewise linear sigmoid
log_sigmoid(x): log(sigmoid(x))
softplus(x): log(1 + exp(x))
gelu(x, approximate=): Gaussian error linear unit
silu(x): x * sigmoid(x)
selu(x): scaled exponential linear unit
elu(x, alpha=): exponential linear unit
leaky_relu(x, negative_slope=): leaky rectifier
softmax(x, axis=): softmax over an axis
log_softmax(x, axis=): log of softmax over an axis
"""

# keras.ops.image: same rules, resolved under that module.
_IMAGE_TABLE = """
extract_patches(images, size, strides=, dilation_rate=, padding=, data_format=): image patches, flattened per \
position (vision transformers)
"""

# keras.random without its `seed` argument: the layer passes its own seed generator.
_RANDOM_TABLE = """
random_normal(shape, mean=, stddev=, dtype=): draws from a normal distribution (a custom type's call only)
random_uniform(shape, minval=, maxval=, dtype=): draws from a uniform distribution in [minval, maxval) (a custom \
type's call only)
random_bernoulli(shape, p=, dtype=): 1 with probability p (default 0.5), else 0, e.g. a dropout mask (a custom \
type's call only)
"""

# Functions declar defines itself from keras.ops (everything else maps 1:1 to keras.ops).
COMPOSITES = frozenset({"squared_difference", "random_bernoulli"})


@dataclass(frozen=True)
class Signature:
    """A callable's parameters, as checked at validate time."""

    name: str
    params: tuple[str, ...]
    required: int
    varargs: str | None = None
    summary: str = ""
    keras_path: str = ""
    """Where the function is, under ``keras``: ``ops.sum``, ``ops.image.extract_patches``, ``random.normal``."""

    def render(self) -> str:
        """``sum(x, axis=None...)``-style text for docs and `declar ops`."""
        parts = [p if i < self.required else f"{p}=" for i, p in enumerate(self.params)]
        if self.varargs:
            parts.append(f"*{self.varargs}")
        return f"{self.name}({', '.join(parts)})"


def _parse_table(text: str, module: str = "ops", prefix: str = "") -> dict[str, Signature]:
    """Signatures from the table's lines; each is ``keras.<module>.<name without prefix>``."""
    table = {}
    for line in text.strip().replace("\\\n", "").splitlines():
        head, summary = line.split(": ", 1)
        name, args = head.rstrip(")").split("(")
        params, required, varargs = [], 0, None
        for arg in filter(None, (a.strip() for a in args.split(","))):
            if arg.startswith("*"):
                varargs = arg[1:]
            elif arg.endswith("="):
                params.append(arg[:-1])
            else:
                params.append(arg)
                required += 1
        table[name] = Signature(name, tuple(params), required, varargs, summary,
                                f"{module}.{name.removeprefix(prefix)}")
    return table


OPS: dict[str, Signature] = {**_parse_table(_TABLE), **_parse_table(_IMAGE_TABLE, "ops.image")}
RANDOM_OPS: dict[str, Signature] = _parse_table(_RANDOM_TABLE, "random", "random_")
# Every function over tensors: what the evaluator and the cost check look signatures up in.
TENSOR_OPS: dict[str, Signature] = {**OPS, **RANDOM_OPS}

# Functions allowed in shape expressions, evaluated in plain Python on small integers.
SHAPE_FUNCTIONS: dict[str, Signature] = _parse_table("""
max(a, b): the larger of two sizes
min(a, b): the smaller of two sizes
prod(sizes): product of a list of sizes
""")

# `base(...)` forwards whatever it is given to the extended layer's call.
BASE = Signature("base", (), 0, "args", "call the extended layer (the guide's super().call)")
