"""tinynet inside other libraries' workflows: scikit-learn estimators (``tinynet.sklearn``)."""
