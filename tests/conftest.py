"""Shared test set-up: nothing here may need ../shared or the network."""

import os

# Real wandb, never online, never chatty; tests that use it point WANDB_DIR at a temp dir.
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
# Datasets other than mnist-5k must fail fast instead of trying mirrors.
os.environ.setdefault("GV_OFFLINE", "1")
