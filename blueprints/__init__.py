"""HTTP: one package per feature (views.py defines `bp`, forms.py its forms), and the JSON API."""
