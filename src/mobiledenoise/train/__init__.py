"""Training: losses, schedules, training steps (plain / distillation / super-sub), the trainer
with checkpoints and exact resume, and run folders."""
