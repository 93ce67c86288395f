"""The index advisor: workload → candidates from the pglast AST → HypoPG what-if costing → selection."""
