"""The name registry behind activations.get, losses.get, optimizers.get, ...: one place for
the lookup, the alias table and the errors that name what is wrong."""
import inspect


class Registry:
    """Maps names (and aliases) to classes and builds objects with checked parameters.

    kind: the word used in messages ("activation", "loss", ...); base: the class whose
    instances ``get`` returns unchanged; word: what the constructor's arguments are called
    in messages ("parameter", "hyper-parameter").
    """

    def __init__(self, kind, base, word="parameter"):
        self.kind, self.base, self.word = kind, base, word
        self._classes = {}

    def add(self, cls, *aliases, name=None):
        for key in (name or cls.name,) + aliases:
            self._classes[key] = cls
        return cls

    def __contains__(self, name):
        return name in self._classes

    def __getitem__(self, name):
        return self._classes[name]

    def available(self):
        """Names (with aliases) accepted by ``get``."""
        return sorted(self._classes)

    def get(self, name, **params):
        """The object called ``name`` built with ``params``; an instance of the base class
        is returned as it is. Unknown names raise ValueError (listing the available ones),
        unknown parameters TypeError; the class checks the values."""
        if isinstance(name, self.base):
            if params:
                raise TypeError(f"{self.word}s cannot be given with {_article(self.kind)} "
                                f"{self.base.__name__} instance")
            return name
        if not isinstance(name, str):
            raise TypeError(f"{self.kind} name must be a str, got {type(name).__name__}")
        if name not in self._classes:
            raise ValueError(f"unknown {self.kind} {name!r}; available: "
                             f"{', '.join(self.available())}")
        cls = self._classes[name]
        accepted = list(inspect.signature(cls).parameters)
        unknown = sorted(set(params) - set(accepted))
        if unknown:
            raise TypeError(f"{self.kind} {name!r} has no {self.word} {unknown[0]!r}; it "
                            f"accepts: {', '.join(accepted)}")
        missing = [p for p, spec in inspect.signature(cls).parameters.items()
                   if spec.default is inspect.Parameter.empty and p not in params
                   and spec.kind not in (spec.VAR_POSITIONAL, spec.VAR_KEYWORD)]
        if missing:
            raise TypeError(f"{self.kind} {name!r} needs {', '.join(missing)}")
        return cls(**params)


def _article(word):
    return "an" if word[0] in "aeiou" else "a"
