"""Built-in canonizers: batch-norm merging, the torch.fx graph canonizer, torchvision families."""
