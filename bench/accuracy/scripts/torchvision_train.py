"""Train a torchvision classifier on synthetic ImageNet-sized batches (the gpu-truth torchvision
families), in the style of pytorch/examples imagenet: --arch, --batch-size, --optimizer, --amp
(float16 autocast with a GradScaler), --amp-dtype bfloat16, --half / --bf16 (pure low-precision
weights), --keep-grads (zero_grad(set_to_none=False)), --evaluate (a no_grad pass only)."""

import argparse

import torch
import torch.nn as nn
import torchvision.models as models

model_names = sorted(
    name
    for name in models.__dict__
    if name.islower() and not name.startswith("__") and callable(models.__dict__[name])
)

parser = argparse.ArgumentParser(description="PyTorch ImageNet Training (synthetic data)")
parser.add_argument("-a", "--arch", metavar="ARCH", default="resnet18", choices=model_names)
parser.add_argument("-b", "--batch-size", default=256, type=int, metavar="N")
parser.add_argument("--lr", "--learning-rate", default=0.1, type=float, dest="lr")
parser.add_argument("--momentum", default=0.9, type=float, metavar="M")
parser.add_argument("--wd", "--weight-decay", default=1e-4, type=float, dest="weight_decay")
parser.add_argument(
    "--optimizer",
    default="sgd",
    choices=["sgd", "adam", "adamw", "rmsprop", "adagrad", "adadelta"],
)
parser.add_argument("--amp", action="store_true", help="mixed precision (autocast)")
parser.add_argument("--amp-dtype", default="float16", choices=["float16", "bfloat16"])
parser.add_argument("--half", action="store_true", help="float16 weights and activations")
parser.add_argument("--bf16", action="store_true", help="bfloat16 weights and activations")
parser.add_argument("--keep-grads", action="store_true", help="zero_grad(set_to_none=False)")
parser.add_argument("-e", "--evaluate", action="store_true", help="evaluate only")
parser.add_argument("--steps", default=100, type=int)
args = parser.parse_args()

device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
model = models.__dict__[args.arch]()
model = model.to(device)
if args.half:
    model = model.half()
if args.bf16:
    model = model.bfloat16()
dtype = torch.float16 if args.half else torch.bfloat16 if args.bf16 else torch.float32
amp_dtype = torch.bfloat16 if args.amp_dtype == "bfloat16" else torch.float16

criterion = nn.CrossEntropyLoss().to(device)
if args.optimizer == "sgd":
    optimizer = torch.optim.SGD(
        model.parameters(), args.lr, momentum=args.momentum, weight_decay=args.weight_decay
    )
elif args.optimizer == "adam":
    optimizer = torch.optim.Adam(model.parameters(), args.lr)
elif args.optimizer == "adamw":
    optimizer = torch.optim.AdamW(model.parameters(), args.lr, weight_decay=args.weight_decay)
elif args.optimizer == "rmsprop":
    optimizer = torch.optim.RMSprop(model.parameters(), args.lr)
elif args.optimizer == "adagrad":
    optimizer = torch.optim.Adagrad(model.parameters(), args.lr)
else:
    optimizer = torch.optim.Adadelta(model.parameters(), args.lr)
scaler = torch.amp.GradScaler("cuda", enabled=args.amp and amp_dtype == torch.float16)


def validate(model, steps):
    model.eval()
    with torch.no_grad():
        for _ in range(steps):
            images = torch.randn(args.batch_size, 3, 224, 224, device=device, dtype=dtype)
            with torch.autocast("cuda", dtype=amp_dtype, enabled=args.amp):
                output = model(images)
            print(output.argmax(1)[:4])


if args.evaluate:
    validate(model, args.steps)
else:
    model.train()
    for step in range(args.steps):
        images = torch.randn(args.batch_size, 3, 224, 224, device=device, dtype=dtype)
        target = torch.randint(0, 1000, (args.batch_size,), device=device)
        with torch.autocast("cuda", dtype=amp_dtype, enabled=args.amp):
            output = model(images)
            loss = criterion(output, target)
        optimizer.zero_grad(set_to_none=not args.keep_grads)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
