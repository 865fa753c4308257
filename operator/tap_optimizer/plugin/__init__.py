"""`kubectl optplan`, the kubectl plugin: pure trees and patches (tree.py, actions.py), the API calls (command.py)."""
