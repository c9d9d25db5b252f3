"""Adapters for the libraries users already work in: LangChain, LlamaIndex and MTEB.

Each adapter is its own module and imports its library only when the module is imported, so
``import reasonir`` never needs them; a missing library raises
:class:`~reasonir.errors.DependencyError` with the install line:

* :mod:`reasonir.integrations.langchain` — ``BaseRetriever`` over an index or a ``reasonir serve``
  server (``pip install 'reasonir[langchain]'``);
* :mod:`reasonir.integrations.llamaindex` — LlamaIndex retrievers returning ``NodeWithScore``, likewise
  (``pip install 'reasonir[llamaindex]'``);
* :mod:`reasonir.integrations.mteb` — an MTEB encoder over any reasonir encoder, and a local MTEB
  retrieval task built from a BEIR folder (``pip install 'reasonir[mteb]'``).
"""
