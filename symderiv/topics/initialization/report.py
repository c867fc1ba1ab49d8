r"""The initialization derivation as the report shows it: question, steps, notes.

Each ``*_steps`` function derives one part with SymPy, records what it derives
in ``results`` and returns the sections and steps that display it, so the code
reads in the order of the report. :mod:`initialization` assembles them with the
simulation and the checks; the symbolic building blocks are in
:mod:`.theory`.
"""

from __future__ import annotations

import sympy as sp

from symderiv.derivation import Section, Step, Table
from symderiv.topics.initialization.theory import (
    ALPHA,
    CONV_EXAMPLE,
    N_IN,
    N_OUT,
    SIGMA,
    TAU,
    Z,
    activation_moments,
    conv_fan_sums,
    conv_fans,
    expectation_integrals,
    gain,
    gaussian_density,
    linearisation,
    linearised_second_moment,
    slope_second_moment,
    solved_variance,
    std_from_gain,
    uniform_bound,
    variance_conditions,
    weight_variance,
)

DENSITY = sp.Function("p")(Z)


def derivation_steps(results: dict, n_in: int, n_out: int, alpha: float) -> list:
    """The analytic sections of the report, in reading order; fills ``results``."""
    return [
        *_pre_activation_steps(),
        *_moment_steps(results),
        *_propagation_steps(results),
        *_he_steps(results),
        *_xavier_steps(results),
        *_practical_steps(results, n_in, n_out, alpha),
    ]


STATEMENT = (
    r"A fully connected layer has fan-in $n_{in}$, fan-out $n_{out}$ and a weight matrix "
    r"$\mathbf{W} \in \mathbb{R}^{n_{out} \times n_{in}}$ with i.i.d.\ entries "
    r"$w_{ji} \sim \mathcal{N}(0, \sigma^2)$; its pre-activation is $\mathbf{z} = \mathbf{W}\mathbf{x}$. "
    r"(a) For the ReLU $\phi(z) = \max(0, z)$, show that $\sigma^2 = 2/n_{in}$ keeps the "
    r"scale of the signal constant from layer to layer, computing the relevant moments of "
    r"$\phi(z)$ for $z \sim \mathcal{N}(0, \tau^2)$ and explaining where the 2 comes from. "
    r"(b) For a saturating activation (tanh, logistic sigmoid), show that balancing the "
    r"forward signal against the backward gradient leads to $\sigma^2 = 2/(n_{in} + n_{out})$, "
    r"and explain why both fans appear. (c) Contrast the two rules, and say how the ReLU "
    r"rule changes for a leaky ReLU with negative slope $\alpha$."
)

ASSUMPTIONS = (
    r"Weights are i.i.d.\ with mean 0 and variance $\sigma^2$, independent of the layer's "
    r"input; biases are 0.",
    r"A pre-activation sums $n_{in}$ independent terms, so it is treated as Gaussian, "
    r"$z \sim \mathcal{N}(0, \tau^2)$ (the usual mean-field approximation; exact in the limit "
    r"of infinite width).",
    r"Backward pass: the gradient arriving at a layer is independent of that layer's "
    r"weights and of $\phi'(z)$, as in He et al.\ (2015) and Glorot and Bengio (2010).",
    r"tanh is analysed in its linear regime, $\tanh z \approx z$ for small $z$, as Glorot "
    r"and Bengio do.",
)


# --------------------------------------------------------------------------- derivation steps


def _pre_activation_steps() -> list:
    w = sp.Symbol("w", real=True)
    weight_second = sp.Integral(w**2 * gaussian_density(w, SIGMA), (w, -sp.oo, sp.oo))
    return [
        Section("One layer: which moment of the input matters"),
        Step(
            r"Write $z_j = \sum_{i=1}^{n_{in}} w_{ji} x_i$. The weights have mean 0 and are "
            r"independent of $\mathbf{x}$, so $E[z_j] = 0$ and every cross term "
            r"$E[w_{ji} x_i w_{jk} x_k] = E[w_{ji}]E[w_{jk}]E[x_i x_k]$ with $i \neq k$ "
            r"vanishes. What is left is a sum of $n_{in}$ equal terms, and the weight's second "
            r"moment is a Gaussian integral:",
            (
                (r"\operatorname{Var}[z_j] = E[z_j^2]",
                 r"\sum_{i=1}^{n_{in}} E[w_{ji}^2]\, E[x_i^2] = n_{in}\, \sigma^2\, E[x^2]"),
                (r"E[w^2]", sp.Eq(weight_second, weight_second.doit(), evaluate=False)),
            ),
        ),
        Step(
            r"The input enters through its \emph{second moment} $E[x^2]$, which equals "
            r"$\operatorname{Var}[x]$ only when $E[x] = 0$. The raw input may be centred, but "
            r"every later layer receives $x = \phi(z)$, and a ReLU output is never centred."
        ),
    ]


def _display_integrals(activation: str, power: int, derivative: bool = False) -> sp.Expr:
    parts = expectation_integrals(activation, power, derivative, density=DENSITY)
    return sp.Add(*parts, evaluate=False) if len(parts) > 1 else parts[0]


def _moment_steps(results: dict) -> list:
    blocks: list = [
        Section("Moments of the activation, by integration"),
        Step(
            r"Let $z \sim \mathcal{N}(0, \tau^2)$ with density $p(z)$. Each moment is the "
            r"integral of a power of $\phi$ against $p$; a piecewise-linear $\phi$ splits it "
            r"at 0, and SymPy evaluates every piece.",
            sp.Eq(DENSITY, gaussian_density(), evaluate=False),
        ),
    ]
    for activation, label in (("relu", "ReLU"), ("leaky_relu", r"leaky ReLU, $\phi(z) = z$ "
                                                  r"for $z > 0$ and $\alpha z$ otherwise")):
        mean, second, variance = activation_moments(activation)
        slope2 = slope_second_moment(activation)
        rows = (
            (r"E[\phi(z)]", sp.Eq(_display_integrals(activation, 1), mean, evaluate=False)),
            (r"E[\phi(z)^2]", sp.Eq(_display_integrals(activation, 2), second, evaluate=False)),
            (r"\operatorname{Var}[\phi(z)] = E[\phi(z)^2] - E[\phi(z)]^2", variance),
            (r"E[\phi'(z)^2]", sp.Eq(_display_integrals(activation, 2, True), slope2,
                                     evaluate=False)),
        )
        blocks.append(Step(f"For the {label}:", rows))
        key = "relu" if activation == "relu" else "leaky"
        results.update({
            f"E[{key}(z)]": mean, f"E[{key}(z)^2]": second, f"Var[{key}(z)]": variance,
            f"E[{key}'(z)^2]": slope2,
        })
    relu_second = activation_moments("relu")[1]
    blocks.append(Step(
        r"The factor $\tfrac12$ in $E[\max(0, z)^2] = \tau^2/2$ is pure symmetry: "
        r"$\max(0, z)^2 + \max(0, -z)^2 = z^2$, and $z$ and $-z$ have the same law, so the "
        r"ReLU keeps exactly half of the second moment. Its variance is smaller, because the "
        r"output has mean $\tau/\sqrt{2\pi}$:",
        (
            (r"\frac{E[\max(0, z)^2]}{\tau^2}", relu_second / TAU**2),
            (r"\frac{\operatorname{Var}[\max(0, z)]}{\tau^2}",
             sp.Eq(results["Var[relu(z)]"] / TAU**2,
                   sp.Float(float(results["Var[relu(z)]"] / TAU**2), 4), evaluate=False)),
        ),
    ))
    return blocks


def _propagation_steps(results: dict) -> list:
    factor = sp.factor(N_IN * SIGMA**2 * results["E[leaky(z)^2]"] / TAU**2)
    results["forward factor"] = factor
    wrong = sp.solve(sp.Eq(N_IN * SIGMA**2 * results["Var[relu(z)]"] / TAU**2, 1), SIGMA**2)[0]
    results["sigma^2 matching Var[relu]"] = wrong
    relu_factor = factor.subs(ALPHA, 0)
    return [
        Section("Which moment propagates"),
        Step(
            r"Put the two facts together. With $\tau_l^2 = \operatorname{Var}[z^{(l)}]$ and "
            r"$a^{(l)} = \phi(z^{(l)})$, the next pre-activation has the variance below; for the "
            r"leaky ReLU the ratio follows from its second moment ($\alpha = 0$ gives the ReLU):",
            (
                (r"\operatorname{Var}[z^{(l+1)}]",
                 r"n_{in}\, \sigma^2\, E\big[(a^{(l)})^2\big]"),
                (r"\frac{\operatorname{Var}[z^{(l+1)}]}{\operatorname{Var}[z^{(l)}]}", factor),
            ),
        ),
        Step(
            r"So the quantity handed from layer to layer is the second moment $E[a^2]$, not "
            r"$\operatorname{Var}[a]$. Requiring instead $n_{in}\sigma^2\operatorname{Var}[a] = "
            r"\tau^2$ for the ReLU would give the larger variance below, and the true per-layer "
            r"factor would then exceed 1, so the signal would grow geometrically (the "
            r"simulation below confirms it):",
            (
                (r"\sigma^2_{\mathrm{Var}}", sp.Eq(wrong, sp.Float(float(wrong * N_IN), 4) / N_IN,
                                                   evaluate=False)),
                (r"n_{in}\sigma^2_{\mathrm{Var}}\, E[a^2]/\tau^2",
                 sp.Eq(sp.cancel(relu_factor.subs(SIGMA**2, wrong)),
                       sp.Float(float(relu_factor.subs(SIGMA**2, wrong)), 4), evaluate=False)),
            ),
        ),
    ]


def _he_steps(results: dict) -> list:
    conditions = variance_conditions("he")
    forward, backward = solved_variance("he", "fan_in"), solved_variance("he", "fan_out")
    results.update({
        "sigma^2 he fan_in": forward.subs(ALPHA, 0), "sigma^2 he fan_out": backward.subs(ALPHA, 0),
        "sigma^2 leaky fan_in": forward, "sigma^2 leaky fan_out": backward,
        "backward factor": sp.factor(N_OUT * SIGMA**2 * results["E[leaky'(z)^2]"]),
    })
    return [
        Section("He initialization (ReLU and leaky ReLU)"),
        Step(
            r"\emph{Forward.} Keep the pre-activation variance: set the factor above to 1 and "
            r"solve for $\sigma^2$. With $\alpha = 0$ this is $2/n_{in}$; the 2 undoes the halving "
            r"of the second moment by the ReLU.",
            (
                sp.Eq(conditions["fan_in"].lhs, 1, evaluate=False),
                (r"\sigma^2", forward),
                (r"\sigma^2\big|_{\alpha = 0}", forward.subs(ALPHA, 0)),
            ),
        ),
        Step(
            r"\emph{Backward.} The error signal of layer $l$ is "
            r"$\delta^{(l)} = \phi'(z^{(l)}) \odot \mathbf{W}^{(l+1)\top}\delta^{(l+1)}$: each "
            r"component sums over the $n_{out}$ units that the unit feeds. With the independence "
            r"assumption its variance obeys the first line, and keeping it gives the fan-out rule:",
            (
                (r"\operatorname{Var}[\delta^{(l)}]",
                 r"n_{out}\,\sigma^2\, E[\phi'(z)^2]\, \operatorname{Var}[\delta^{(l+1)}]"),
                sp.Eq(conditions["fan_out"].lhs, 1, evaluate=False),
                (r"\sigma^2", backward),
                (r"\sigma^2\big|_{\alpha = 0}", backward.subs(ALPHA, 0)),
            ),
        ),
        Step(
            r"One rule cannot satisfy both conditions unless $n_{in} = n_{out}$. He et al.\ "
            r"note that this costs little: with the fan-in rule the backward factor of a layer "
            r"is $n_{out}\sigma^2 E[\phi'(z)^2] = n_{out}/n_{in}$, and over a network of widths "
            r"$n_0, \dots, n_L$ these factors telescope to $n_L/n_0$, which does not grow with "
            r"depth."
        ),
    ]


def _xavier_steps(results: dict) -> list:
    conditions = variance_conditions("xavier")
    tanh_linear, sigmoid_linear = linearisation("tanh"), linearisation("sigmoid")
    solved = {mode: solved_variance("xavier", mode) for mode in ("fan_in", "fan_out", "fan_avg")}
    product = (N_IN * solved["fan_avg"]) * (N_OUT * solved["fan_avg"])
    shortfall = sp.factor(1 - product)
    sigmoid_second = linearised_second_moment("sigmoid")
    v = sp.Symbol("v", positive=True)
    fixed_point = sp.solve(sp.Eq(v, N_IN * SIGMA**2 * sigmoid_second.subs(TAU**2, v)), v)[0]
    results.update({
        "sigma^2 xavier fan_in": solved["fan_in"], "sigma^2 xavier fan_out": solved["fan_out"],
        "sigma^2 xavier": solved["fan_avg"],
        "E[sigmoid_lin(z)^2]": sigmoid_second,
    })
    return [
        Section("Xavier (Glorot) initialization (tanh)"),
        Step(
            r"Near 0, tanh is the identity to first order, so in its linear regime it passes "
            r"the whole second moment and the whole gradient ($\phi'(0)^2 = 1$):",
            (
                r"\tanh z \approx " + sp.latex(tanh_linear),
                (r"E[(\tanh'(0)\, z)^2]", linearised_second_moment("tanh")),
            ),
        ),
        Step(
            r"The forward and backward conditions then read $n_{in}\sigma^2 = 1$ and "
            r"$n_{out}\sigma^2 = 1$. Glorot and Bengio compromise: they replace the fan by the "
            r"mean of the two fans:",
            (
                (r"\text{forward: } \sigma^2", solved["fan_in"]),
                (r"\text{backward: } \sigma^2", solved["fan_out"]),
                (r"\text{compromise, } " + sp.latex(conditions["fan_avg"].lhs) + r" = 1"
                 r" \Rightarrow \sigma^2", solved["fan_avg"]),
            ),
        ),
        Step(
            r"Both fans appear because the forward variance sums over the $n_{in}$ inputs of a "
            r"unit and the backward variance over its $n_{out}$ outputs. Under the compromise "
            r"the forward factor is $2n_{in}/(n_{in}+n_{out})$ and the backward factor "
            r"$2n_{out}/(n_{in}+n_{out})$; neither is 1 unless the fans agree, and their product "
            r"falls short of 1 by",
            sp.Eq(sp.Symbol(r"1 - \frac{4 n_{in} n_{out}}{(n_{in} + n_{out})^2}"), shortfall,
                  evaluate=False),
        ),
        Step(
            r"Compared with He's $2/n_{in}$, the Xavier rule has no factor 2, because tanh in its "
            r"linear regime keeps the full second moment where the ReLU keeps half, and it "
            r"averages the fans instead of choosing one."
        ),
        Step(
            r"\emph{The logistic sigmoid} behaves differently. Its linearisation has "
            r"$\phi(0) = \tfrac12$ and $\phi'(0) = \tfrac14$. The output is not centred, so its "
            r"second moment has a constant part, and the forward map "
            r"$\tau_{l+1}^2 = n_{in}\sigma^2 E[\phi(z_l)^2]$ is affine instead of a rescaling: it "
            r"has a fixed point $v^\ast$ (for $n_{in}\sigma^2 < 16$) rather than a neutral "
            r"scale. The backward factor $n_{out}\sigma^2/16$ asks for $\sigma^2 = 16/n_{out}$, "
            r"sixteen times the tanh value; with fans of similar size this puts "
            r"$n_{in}\sigma^2$ near 16, where $v^\ast$ runs off to infinity (and the "
            r"linearisation has failed long before). No single $\sigma^2$ balances both, which "
            r"is why the Xavier argument is made for tanh.",
            (
                r"\sigma(z) \approx " + sp.latex(sigmoid_linear),
                (r"E\big[(\tfrac12 + \tfrac{z}{4})^2\big]", sigmoid_second),
                (r"v^\ast", fixed_point),
            ),
        ),
    ]


def _practical_steps(results: dict, n_in: int, n_out: int, alpha: float) -> list:
    b = sp.Symbol("b", positive=True)
    x = sp.Symbol("x", real=True)
    uniform_variance = sp.Integral(x**2 / (2 * b), (x, -b, b))
    he_bound = uniform_bound(results["sigma^2 he fan_in"])
    xavier_bound = uniform_bound(results["sigma^2 xavier"])
    gains = {name: gain(name, **({"alpha": ALPHA} if name == "leaky_relu" else {}))
             for name in ("relu", "leaky_relu", "tanh")}
    fan_sums = conv_fan_sums()
    fans = tuple(total.doit() for total in fan_sums)
    results.update({
        "uniform bound he": he_bound, "uniform bound xavier": xavier_bound,
        "gain relu": gains["relu"], "gain leaky": gains["leaky_relu"], "gain tanh": gains["tanh"],
        "conv fan_in": fans[0], "conv fan_out": fans[1],
    })
    c_in, c_out, (k_h, k_w) = CONV_EXAMPLE
    fan_in, fan_out = conv_fans(c_in, c_out, (k_h, k_w))
    rows = []
    for label, scheme, mode, a in (
        ("He, fan-in", "he", "fan_in", 0), ("He, fan-out", "he", "fan_out", 0),
        (rf"leaky He, $\alpha = {alpha:g}$", "he", "fan_in", alpha),
        ("Xavier, fan-in", "xavier", "fan_in", 0), ("Xavier, fan-out", "xavier", "fan_out", 0),
        ("Xavier (compromise)", "xavier", "fan_avg", 0),
    ):
        variance = weight_variance(scheme, n_in, n_out, alpha=a, mode=mode)
        rows.append((label, variance, sp.Float(float(sp.sqrt(variance)), 4),
                     sp.Float(float(uniform_bound(variance)), 4)))
    return [
        Section("Uniform weights, gains and convolutions"),
        Step(
            r"A uniform law $U(-b, b)$ has variance $b^2/3$; matching $\sigma^2$ gives the bound "
            r"$b = \sqrt{3}\,\sigma$, hence the familiar uniform forms of the two rules:",
            (
                (r"\operatorname{Var}[U(-b,b)]", sp.Eq(uniform_variance, uniform_variance.doit(),
                                                       evaluate=False)),
                (r"b_{\mathrm{He}}", he_bound),
                (r"b_{\mathrm{Xavier}}", xavier_bound),
            ),
        ),
        Step(
            r"Libraries write the standard deviation as $\mathrm{gain}/\sqrt{\mathrm{fan}}$. "
            r"The forward condition $n_{in}\sigma^2 E[\phi(z)^2] = \tau^2$ gives "
            r"$\mathrm{gain}^2 = \tau^2 / E[\phi(z)^2]$:",
            (
                (r"\mathrm{gain}_{\mathrm{ReLU}}", gains["relu"]),
                (r"\mathrm{gain}_{\mathrm{leaky}}", gains["leaky_relu"]),
                (r"\mathrm{gain}_{\tanh}\ \text{(linear regime)}", gains["tanh"]),
            ),
        ),
        Step(
            r"PyTorch recommends $5/3$ for tanh; that value is an empirical choice that "
            r"compensates for saturation and does not follow from the linear-regime argument."
        ),
        Step(
            r"A convolution weight of shape $(C_{out}, C_{in}, k_h, k_w)$ plays the role of a "
            r"dense weight whose rows are flattened kernels: each output sums "
            r"$C_{in} k_h k_w$ products, and each input (away from the border) feeds "
            rf"$C_{{out}} k_h k_w$ outputs. For ${c_in} \to {c_out}$ channels and a "
            rf"${k_h}\times{k_w}$ kernel the fans are ${fan_in}$ and ${fan_out}$, and the He "
            rf"standard deviation is $\sqrt{{2/{fan_in}}} = "
            rf"{sp.latex(std_from_gain(gains['relu'], fan_in))}$.",
            (
                (r"\mathrm{fan}_{in}", sp.Eq(fan_sums[0], fans[0], evaluate=False)),
                (r"\mathrm{fan}_{out}", sp.Eq(fan_sums[1], fans[1], evaluate=False)),
            ),
        ),
        Table(
            rf"Weight scales for $n_{{in}} = {n_in}$, $n_{{out}} = {n_out}$.",
            ("Rule", r"$\sigma^2$", r"$\sigma$", r"uniform bound $\sqrt{3}\sigma$"),
            tuple(rows),
        ),
    ]


NOTES = (
    r"The source writes $\operatorname{Var}[\max(0, z)] \approx \tau^2/2$. The value $\tau^2/2$ "
    r"is exact, but it is the second moment $E[\max(0, z)^2]$; the variance is "
    r"$\tau^2(\pi - 1)/(2\pi) \approx 0.341\,\tau^2$, because the ReLU output has mean "
    r"$\tau/\sqrt{2\pi}$. The argument still reaches $2/n_{in}$ because the next layer's "
    r"variance depends on exactly this second moment; with the true variance in its place the "
    r"rule would be $\sigma^2 \approx 2.93/n_{in}$ and the signal would grow by a factor "
    r"$\pi/(\pi - 1) \approx 1.47$ per layer.",
    r"The source sets $\operatorname{Var}[z] = n_{in}\sigma^2 v_{in}$ with "
    r"$v_{in} = \operatorname{Var}[x_i]$. This holds only for centred inputs; in general the "
    r"factor is $E[x_i^2]$, and after a ReLU layer $E[x_i^2] \neq \operatorname{Var}[x_i]$.",
    r"Part (a) asks to keep the variance of both $\mathbf{z}$ and $\phi(\mathbf{z})$ constant. "
    r"He's rule keeps $\operatorname{Var}[z] = E[z^2]$ and $E[\phi(z)^2]$ constant across layers "
    r"(and with them $\operatorname{Var}[\phi(z)]$, which is proportional); only the first two "
    r"enter the derivation.",
    r"For part (b) the source states the result without a derivation and presents it as the "
    r"general choice for both sigmoid and tanh. The rule rests on the linear regime of tanh "
    r"($\tanh'(0) = 1$, zero-centred); it is a compromise that meets neither the forward nor "
    r"the backward condition when $n_{in} \neq n_{out}$; and for the logistic sigmoid "
    r"($\phi(0) = \tfrac12$, $\phi'(0) = \tfrac14$) the balance argument does not go through as "
    r"stated. The source also ties $n_{out}$ to saturating networks; in fact the fan-out enters "
    r"through the backward pass for every activation, and for the ReLU it gives He's "
    r"fan-out rule $2/n_{out}$.",
    r"For the leaky ReLU the source only says that the factor 2 becomes some function of "
    r"$\alpha$ involving $1 + \alpha^2$. Exactly: $E[\phi(z)^2] = (1 + \alpha^2)\tau^2/2$, so "
    r"$\sigma^2 = 2/((1 + \alpha^2) n_{in})$, or $2/((1 + \alpha^2) n_{out})$ backward, and "
    r"the gain is $\sqrt{2/(1 + \alpha^2)}$.",
)
