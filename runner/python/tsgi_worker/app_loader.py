"""Loading `module:callable` (or `module:factory()`, as gunicorn) from the app's directory."""

import ast
import importlib
import re

SPEC = re.compile(r'([A-Za-z_][\w.]*):([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)(\((.*)\))?\Z', re.S)


class AppLoadError(Exception):
    """The app cannot be imported or is not callable; the master must not respawn forever."""


def load_app(spec):
    match = SPEC.match(spec)
    if match is None:
        raise AppLoadError('expected MODULE:CALLABLE like "app:app" or "pkg.wsgi:create_app()", got %r' % spec)
    module_name, attribute, call, args = match.group(1), match.group(2), match.group(3), match.group(4)
    try:
        module = importlib.import_module(module_name)
    except Exception as err:
        raise AppLoadError('cannot import module %r: %s: %s' % (module_name, type(err).__name__, err)) from err
    target = module
    for part in attribute.split('.'):
        if not hasattr(target, part):
            raise AppLoadError('module %r (%s) has no attribute %r' % (module_name, getattr(module, '__file__', '?'), attribute))
        target = getattr(target, part)
    if call is not None:
        target = _call_factory(module_name, attribute, target, args)
    if not callable(target):
        raise AppLoadError('%s:%s is not callable: found %s' % (module_name, attribute, type(target).__name__))
    return target


def _call_factory(module_name, attribute, factory, args):
    try:
        values = ast.literal_eval('(%s,)' % args) if args.strip() else ()
    except (ValueError, SyntaxError) as err:
        raise AppLoadError('the arguments of %s:%s(%s) must be Python literals' % (module_name, attribute, args)) from err
    if not callable(factory):
        raise AppLoadError('%s:%s is not callable: found %s' % (module_name, attribute, type(factory).__name__))
    try:
        return factory(*values)
    except Exception as err:
        raise AppLoadError('%s:%s() failed: %s: %s' % (module_name, attribute, type(err).__name__, err)) from err
