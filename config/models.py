"""No models. The module is here because Django sends `post_migrate` (config/apps.py) only
to apps that have one."""
