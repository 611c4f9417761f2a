"""Policy bundle loading and the Rego test runner (DESIGN §4)."""
