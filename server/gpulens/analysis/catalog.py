"""Names of the training concepts the reader recognises (optimizers, losses, layers...)."""

from __future__ import annotations

OPTIMIZERS: dict[str, float | None] = {
    # class name → default lr in torch.optim (None: required / not a torch.optim class)
    "Adam": 1e-3,
    "AdamW": 1e-3,
    "SGD": 1e-3,
    "RMSprop": 1e-2,
    "Adagrad": 1e-2,
    "Adadelta": 1.0,
    "Adamax": 2e-3,
    "NAdam": 2e-3,
    "RAdam": 1e-3,
    "ASGD": 1e-2,
    "Rprop": 1e-2,
    "SparseAdam": 1e-3,
    "LBFGS": 1.0,
    "Adafactor": None,
    "Lion": None,
    "AdamW8bit": None,
    "Adam8bit": None,
    "PagedAdamW8bit": None,
    "FusedAdam": None,
    "FusedLAMB": None,
    "LAMB": None,
    "Lamb": None,
    "LARS": None,
    "Muon": None,
}

SCHEDULERS = frozenset(
    {
        "StepLR",
        "MultiStepLR",
        "ExponentialLR",
        "CosineAnnealingLR",
        "CosineAnnealingWarmRestarts",
        "OneCycleLR",
        "CyclicLR",
        "LambdaLR",
        "MultiplicativeLR",
        "ReduceLROnPlateau",
        "LinearLR",
        "ConstantLR",
        "PolynomialLR",
        "SequentialLR",
        "ChainedScheduler",
        "get_linear_schedule_with_warmup",
        "get_cosine_schedule_with_warmup",
        "get_constant_schedule_with_warmup",
        "get_cosine_with_hard_restarts_schedule_with_warmup",
        "get_polynomial_decay_schedule_with_warmup",
        "get_scheduler",
        "CosineLRScheduler",
    }
)

LOSS_FUNCTIONS = frozenset(
    {
        "cross_entropy",
        "nll_loss",
        "mse_loss",
        "l1_loss",
        "binary_cross_entropy",
        "binary_cross_entropy_with_logits",
        "smooth_l1_loss",
        "kl_div",
        "huber_loss",
        "cosine_embedding_loss",
        "margin_ranking_loss",
        "triplet_margin_loss",
        "ctc_loss",
        "hinge_embedding_loss",
        "soft_margin_loss",
        "multilabel_margin_loss",
        "multilabel_soft_margin_loss",
        "poisson_nll_loss",
        "gaussian_nll_loss",
        "multi_margin_loss",
    }
)

DROPOUT = frozenset(
    {
        "Dropout",
        "Dropout1d",
        "Dropout2d",
        "Dropout3d",
        "AlphaDropout",
        "FeatureAlphaDropout",
        "dropout",
        "dropout1d",
        "dropout2d",
        "dropout3d",
        "alpha_dropout",
        "feature_alpha_dropout",
    }
)

ACTIVATIONS = frozenset(
    {
        "ReLU",
        "ReLU6",
        "LeakyReLU",
        "PReLU",
        "RReLU",
        "ELU",
        "SELU",
        "CELU",
        "GELU",
        "SiLU",
        "Mish",
        "Tanh",
        "Sigmoid",
        "Hardtanh",
        "Hardswish",
        "Hardsigmoid",
        "Softmax",
        "LogSoftmax",
        "Softplus",
        "Softsign",
        "Tanhshrink",
        "Threshold",
        "GLU",
        "Softmin",
        "Softmax2d",
        "relu",
        "relu6",
        "leaky_relu",
        "gelu",
        "silu",
        "mish",
        "tanh",
        "sigmoid",
        "softmax",
        "log_softmax",
        "elu",
        "selu",
        "celu",
        "softplus",
        "hardswish",
        "hardsigmoid",
        "glu",
        "prelu",
        "rrelu",
        "softsign",
        "hardtanh",
        "logsigmoid",
    }
)

DATASET_CALLS = frozenset(
    {
        "TensorDataset",
        "ImageFolder",
        "DatasetFolder",
        "random_split",
        "Subset",
        "ConcatDataset",
        "load_dataset",
    }
)

LOADERS = frozenset({"DataLoader"})
