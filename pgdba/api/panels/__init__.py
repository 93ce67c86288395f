"""Dashboard pages, one module per page: each panel's data function over the library, and the Page."""
