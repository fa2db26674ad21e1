//! Declarations: native resources, define instances, classes, relationships and defaults.

use crate::model::attrs::AttrMap;
use crate::model::declared::NodeEval;
use crate::model::fxhash::FxHashSet;
use crate::model::name::Name;

use super::scope::{Binding, Frame};
use super::{DeclaredClass, DefaultsBlock, Evaluator, Failed, R};
use crate::diag::{Code, Diagnostic};
use crate::model::attrs::Attr;
use crate::model::declared::{Container, ContainerKind, Declared, Endpoint, Relation};
use crate::model::schema;
use crate::model::value::{ResRef, Value};
use crate::source::Span;
use crate::syntax::ast::{self, BodyItem, ClassRef, Param, ResourceDecl};

/// The relationship metaparameters, turned into relations rather than attributes.
const RELATIONS: [&str; 4] = ["require", "before", "notify", "subscribe"];

impl Evaluator<'_> {
    /// Evaluates a resource body: written attributes first, then the splat's keys. A value
    /// that fails is left out; `none` counts as not written. The map has `room` for as many
    /// more (resource defaults still to come).
    pub(super) fn body_attrs(&mut self, body: &[BodyItem], room: usize) -> AttrMap {
        let mut attrs = AttrMap::with_capacity(body.len() + room);
        // Names written in the body (a body is short: a vector beats a hash map).
        let mut written: Vec<(&str, Span)> = Vec::with_capacity(body.len());
        let mut splat: Option<(Span, Value, Span)> = None;
        let mut first_star: Option<Span> = None;
        for item in body {
            match item {
                BodyItem::Attr { name, value } => {
                    if let Some((_, first)) = written.iter().find(|(n, _)| *n == name.name) {
                        self.diags.push(
                            Diagnostic::error(
                                Code::DuplicateAttribute,
                                name.span,
                                format!("`{}` is set twice", name.name),
                            )
                            .with_primary("set again here")
                            .with_label(*first, "first set here"),
                        );
                        continue;
                    }
                    written.push((&name.name, name.span));
                    let v = self.eval(value);
                    if let Ok(v) = v.and_then(|v| self.check_expanded(&v, value.span).map(|_| v)) {
                        if !v.is_none() {
                            attrs.insert(&name.name, Attr::new(v, name.span, value.span));
                        }
                    }
                }
                BodyItem::Splat { star, value } => {
                    if let Some(first) = first_star {
                        self.diags.push(
                            Diagnostic::error(
                                Code::DuplicateAttribute,
                                *star,
                                "a body takes at most one `* =`",
                            )
                            .with_label(first, "first splat here"),
                        );
                        continue;
                    }
                    first_star = Some(*star);
                    let v = self.eval(value);
                    match v.and_then(|v| self.check_expanded(&v, value.span).map(|_| v)) {
                        Ok(v @ Value::Map(_)) => splat = Some((*star, v, value.span)),
                        Ok(Value::None) | Err(Failed) => {}
                        Ok(other) => {
                            self.diags.push(
                                Diagnostic::error(
                                    Code::InvalidValue,
                                    value.span,
                                    format!("`* =` takes a Map, not a {}", other.type_name()),
                                )
                                .with_primary(format!("this is {other}")),
                            );
                        }
                    }
                }
            }
        }
        if let Some((star, Value::Map(m), value_span)) = splat {
            for (k, v) in m.iter() {
                if written.iter().any(|(n, _)| n == k) || v.is_none() {
                    continue;
                }
                attrs.insert(k, Attr::new(v.clone(), star, value_span));
            }
        }
        attrs
    }

    /// Declares `kind TITLE { … }`: native resources or define instances. Returns the
    /// endpoints it made (for chains).
    pub(super) fn declare(&mut self, decl: &ResourceDecl) -> Vec<Endpoint> {
        let Ok(titles) = self.titles(&decl.title) else {
            // Evaluate the body anyway so its own problems are reported.
            let _ = self.body_attrs(&decl.body, 0);
            return Vec::new();
        };
        if self.step(titles.len() as u64, decl.kind.span).is_err() {
            return Vec::new();
        }
        let index = self.index;
        if let Some(def) = index.defines.get(decl.kind.name.as_str()) {
            let attrs = self.body_attrs(&decl.body, 0);
            let mut out = Vec::new();
            for title in titles {
                if let Some(c) = self.instance(decl, def.def, title, &attrs) {
                    out.push(Endpoint::Container(c));
                }
                if self.stopped {
                    break;
                }
            }
            return out;
        }
        if decl.kind.name == "class" {
            self.diags.push(
                Diagnostic::error(
                    Code::UnknownResourceType,
                    decl.kind.span,
                    "classes are declared with `include` or `contain`, not as resources",
                )
                .with_help("write `include name` or `include name(param = value)`"),
            );
            return Vec::new();
        }
        let kind = Name::new(&decl.kind.name);
        // Room for the defaults of this type written so far in this block (applied when it
        // ends): one allocation per resource instead of two.
        let room: usize = self.blocks.last().map_or(0, |b| {
            b.defaults
                .iter()
                .filter(|(k, _)| k == kind.as_str())
                .map(|(_, a)| a.len())
                .sum()
        });
        let mut attrs = self.body_attrs(&decl.body, room);
        let relations = take_relations(&mut attrs);
        let extra_tags = self.take_tags(&mut attrs);
        let mut out = Vec::with_capacity(titles.len());
        let last = titles.len().saturating_sub(1);
        for (n, title) in titles.into_iter().enumerate() {
            let idx = self.out.resources.len();
            let mut tags = self.tags.clone();
            for t in &extra_tags {
                if !tags.contains(t) {
                    tags.push(*t);
                }
            }
            let params = if n == last {
                std::mem::take(&mut attrs)
            } else {
                attrs.clone_with_room(room)
            };
            if idx + 1 == crate::memory::BIG_NODE_RESOURCES {
                crate::memory::set(crate::memory::Freed::Return);
            }
            self.out.resources.push(Declared {
                kind,
                kind_span: decl.kind.span,
                title: title.0,
                title_span: title.1,
                label: None,
                params,
                tags,
            });
            if let Some(c) = self.container {
                self.out.containers[c].resources.push(idx);
            }
            if let Some(b) = self.blocks.last_mut() {
                b.resources.push(idx);
            }
            self.relate(Endpoint::Resource(idx), &relations);
            out.push(Endpoint::Resource(idx));
        }
        out
    }

    /// A title: a String, or an Array of Strings (one resource each).
    fn titles(&mut self, e: &ast::Expr) -> R<Vec<(String, Span)>> {
        let v = self.eval(e)?;
        let mut out = Vec::new();
        let mut bad = None;
        match &v {
            Value::Str(s) => out.push((s.to_string(), e.span)),
            Value::Array(a) => {
                for item in a.iter() {
                    match item {
                        Value::Str(s) => out.push((s.to_string(), e.span)),
                        other => bad = Some(other.clone()),
                    }
                }
            }
            other => bad = Some(other.clone()),
        }
        if let Some(b) = bad {
            self.diags.push(
                Diagnostic::error(
                    Code::InvalidValue,
                    e.span,
                    format!(
                        "a title must be a String or an Array of Strings, not {}",
                        b.type_name()
                    ),
                )
                .with_primary(format!("this is {b}")),
            );
            return Err(Failed);
        }
        Ok(out)
    }

    /// Removes `tag` from attributes, returning its values.
    fn take_tags(&mut self, attrs: &mut AttrMap) -> Vec<Name> {
        let Some(attr) = attrs.shift_remove("tag") else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let ok = match &attr.value {
            Value::Str(s) => {
                out.push(Name::new(s));
                true
            }
            Value::Array(a) => a.iter().all(|v| match v {
                Value::Str(s) => {
                    out.push(Name::new(s));
                    true
                }
                _ => false,
            }),
            _ => false,
        };
        if !ok {
            self.diags.push(
                Diagnostic::error(
                    Code::InvalidValue,
                    attr.value_span(),
                    "`tag` takes a String or an Array of Strings",
                )
                .with_primary(format!("this is {}", attr.value)),
            );
            return Vec::new();
        }
        out
    }

    /// Relations for `require`/`before`/`notify`/`subscribe` on an endpoint.
    fn relate(&mut self, me: Endpoint, relations: &[(Name, Attr)]) {
        for (name, attr) in relations {
            let Some(refs) = self.refs_of(&attr.value, attr.value_span(), name) else {
                continue;
            };
            for r in refs {
                let other = Endpoint::Ref(r);
                let (from, to, refresh) = match name.as_str() {
                    "require" => (other, me.clone(), false),
                    "before" => (me.clone(), other, false),
                    "notify" => (me.clone(), other, true),
                    _ => (other, me.clone(), true),
                };
                self.out.relations.push(Relation { from, to, refresh });
            }
        }
    }

    /// The references in a relationship value (a Ref or an Array of them).
    fn refs_of(&mut self, v: &Value, span: Span, what: &str) -> Option<Vec<ResRef>> {
        let mut out = Vec::new();
        let mut stack = vec![v];
        while let Some(v) = stack.pop() {
            match v {
                Value::Ref(r) => out.extend(r.iter().cloned()),
                Value::Array(a) => stack.extend(a.iter().rev()),
                Value::None => {}
                other => {
                    self.diags.push(
                        Diagnostic::error(
                            Code::InvalidValue,
                            span,
                            format!(
                                "`{what}` takes references like `File[\"/etc/motd\"]`, not a {}",
                                other.type_name()
                            ),
                        )
                        .with_primary(format!("this is {other}")),
                    );
                    return None;
                }
            }
        }
        Some(out)
    }

    /// Declares one define instance and runs its body.
    fn instance(
        &mut self,
        decl: &ResourceDecl,
        def: &ast::DefineDef,
        title: (String, Span),
        attrs: &AttrMap,
    ) -> Option<usize> {
        let kind = decl.kind.name.clone();
        let mut attrs = attrs.clone();
        // Defaults of the define type set its parameters (written attributes win).
        for (k, a) in self.defaults_for(&kind) {
            attrs.insert_if_absent(k, || a);
        }
        let relations = take_relations(&mut attrs);
        let extra_tags = self.take_tags(&mut attrs);
        attrs.shift_remove("noop");
        attrs.shift_remove("alias");
        let c = self.out.containers.len();
        self.out.containers.push(Container {
            kind: ContainerKind::Define(kind.clone()),
            title: title.0.clone(),
            resources: Vec::new(),
            children: Vec::new(),
        });
        if let Some(parent) = self.container {
            self.out.containers[parent].children.push(c);
        }
        self.relate(Endpoint::Container(c), &relations);

        let mut frame = Frame::default();
        frame.insert(
            "title".into(),
            Binding {
                value: Some(Value::str(title.0.as_str())),
                span: None,
            },
        );
        let ok = self.bind_params(
            &def.params,
            &mut attrs,
            &mut frame,
            decl.kind.span,
            &format!("define `{kind}`"),
            None,
        );
        if !ok || self.stopped {
            return Some(c);
        }
        if !self.enter(Some(decl.kind.span)) {
            return Some(c);
        }
        let mut tags = self.tags.clone();
        for t in name_tags(&kind).into_iter().chain(extra_tags) {
            if !tags.contains(&t) {
                tags.push(t);
            }
        }
        self.run_body(&def.body, frame, Some(c), tags);
        self.depth -= 1;
        Some(c)
    }

    /// Runs a class or define body in a fresh scope stack and defaults block.
    fn run_body(
        &mut self,
        body: &[ast::Stmt],
        frame: Frame,
        container: Option<usize>,
        tags: Vec<Name>,
    ) -> Frame {
        let saved_frames = std::mem::replace(&mut self.scopes.frames, vec![frame]);
        self.suspended.push(saved_frames);
        let saved_blocks = std::mem::replace(&mut self.blocks, vec![DefaultsBlock::default()]);
        let saved_container = std::mem::replace(&mut self.container, container);
        let saved_tags = std::mem::replace(&mut self.tags, tags);
        let saved_top = std::mem::replace(&mut self.top_level, false);
        self.stmts(body);
        let b = self.blocks.pop().unwrap_or_default();
        self.apply_defaults(&b.defaults, &b.resources);
        self.top_level = saved_top;
        self.tags = saved_tags;
        self.container = saved_container;
        self.blocks = saved_blocks;
        // Resources of the body still get the defaults of the file's top level (global), but
        // not those of the declaring block.
        let saved_frames = self.suspended.pop().unwrap_or_default();
        let mut frames = std::mem::replace(&mut self.scopes.frames, saved_frames);
        frames.pop().unwrap_or_default()
    }

    /// Binds parameters from given attributes, data lookup (classes), defaults and
    /// `Optional`. Reports unknown, missing and ill-typed ones; false when the body must not
    /// run.
    fn bind_params(
        &mut self,
        params: &[Param],
        given: &mut AttrMap,
        frame: &mut Frame,
        at: Span,
        what: &str,
        class: Option<&str>,
    ) -> bool {
        let mut ok = true;
        for (name, attr) in given.iter() {
            if !params.iter().any(|p| p.var.name == name.as_str()) {
                ok = false;
                self.diags.push(
                    Diagnostic::error(
                        Code::UnknownAttribute,
                        attr.name_span(),
                        format!("{what} has no parameter `{name}`"),
                    )
                    .with_suggestion(name, params.iter().map(|p| p.var.name.as_str())),
                );
            }
        }
        for p in params {
            let name = &p.var.name;
            let mut value: Option<(Value, Span, bool)> = given
                .get(name)
                .map(|a| (a.value.clone(), a.value_span(), false));
            if value.is_none() {
                if let Some(class) = class {
                    match self.data_param(class, name) {
                        Ok(Some((v, span))) => value = Some((v, span, true)),
                        Ok(None) => {}
                        Err(Failed) => {
                            ok = false;
                            continue;
                        }
                    }
                }
            }
            if value.is_none() {
                if let Some(default) = &p.default {
                    // Defaults see the top level, `$title` and earlier parameters.
                    let saved = std::mem::replace(&mut self.scopes.frames, vec![frame.clone()]);
                    let r = self.eval(default);
                    self.scopes.frames = saved;
                    match r {
                        Ok(Value::None) => {}
                        Ok(v) => value = Some((v, default.span, false)),
                        Err(Failed) => {
                            ok = false;
                            continue;
                        }
                    }
                }
            }
            match value {
                Some((mut v, span, from_data)) => {
                    if let Some(ty) = &p.ty {
                        match self.fits(ty, &v) {
                            Ok(true) => {
                                if self.wraps_sensitive(ty, &v) {
                                    v = Value::sensitive(v);
                                }
                            }
                            Ok(false) => {
                                // A value meant to be Sensitive is not shown, even when it
                                // does not fit.
                                let kind = v.type_name();
                                if mentions_sensitive(ty) {
                                    v = Value::sensitive(v);
                                }
                                ok = false;
                                let code = if from_data {
                                    Code::DataError
                                } else {
                                    Code::InvalidValue
                                };
                                let tyname = self.program.sources.slice(ty.span).to_string();
                                self.diags.push(
                                    Diagnostic::error(
                                        code,
                                        span,
                                        format!("`${name}` of {what} must be {tyname}, got {v}"),
                                    )
                                    .with_primary(format!("this is a {kind}"))
                                    .with_label(ty.span, "type declared here"),
                                );
                                continue;
                            }
                            Err(Failed) => {}
                        }
                    }
                    frame.insert(
                        name.clone(),
                        Binding {
                            value: Some(v),
                            span: None,
                        },
                    );
                }
                None => {
                    if p.ty.as_ref().is_some_and(|t| self.is_optional(t)) {
                        frame.insert(
                            name.clone(),
                            Binding {
                                value: Some(Value::None),
                                span: None,
                            },
                        );
                    } else {
                        ok = false;
                        self.diags.push(
                            Diagnostic::error(
                                Code::MissingAttribute,
                                at,
                                format!("{what} needs a value for `${name}`"),
                            )
                            .with_label(p.var.span, "parameter without a default"),
                        );
                    }
                }
            }
        }
        ok
    }

    /// `include name`, `include name(p = v)`, `contain …`.
    pub(super) fn declare_class(&mut self, c: &ClassRef, contain: bool) {
        let name = c.name.name.trim_start_matches("::").to_string();
        let index = self.index;
        let Some(def) = index.classes.get(name.as_str()) else {
            self.diags.push(
                Diagnostic::error(
                    Code::UnknownClass,
                    c.name.span,
                    format!("no class named `{name}`"),
                )
                .with_primary("unknown class")
                .with_suggestion(&name, index.classes.keys().copied()),
            );
            return;
        };
        if let Some(existing) = self.classes.get(&name) {
            if c.args.is_some() {
                self.diags.push(
                    Diagnostic::error(
                        Code::DuplicateClass,
                        c.name.span,
                        format!("class `{name}` is already declared; parameters can only be given at its first declaration"),
                    )
                    .with_help("declare it with parameters once, before any plain `include`"),
                );
            }
            if contain {
                if let (Some(parent), Some(child)) = (self.container, existing.container) {
                    if parent != child && !self.out.containers[parent].children.contains(&child) {
                        self.out.containers[parent].children.push(child);
                    }
                }
            }
            return;
        }
        let mut given = AttrMap::new();
        if let Some(args) = &c.args {
            for a in args {
                if given.contains_key(&a.name.name) {
                    self.diags.push(Diagnostic::error(
                        Code::DuplicateAttribute,
                        a.name.span,
                        format!("`{}` is passed twice", a.name.name),
                    ));
                    continue;
                }
                if let Ok(v) = self.eval(&a.value) {
                    if !v.is_none() {
                        given.insert(&a.name.name, Attr::new(v, a.name.span, a.value.span));
                    }
                } else {
                    // A failed argument: the class is not evaluated, quietly.
                    self.classes
                        .insert(name.clone(), DeclaredClass { container: None });
                    return;
                }
            }
        }
        let container = self.out.containers.len();
        self.out.containers.push(Container {
            kind: ContainerKind::Class,
            title: name.clone(),
            resources: Vec::new(),
            children: Vec::new(),
        });
        self.classes.insert(
            name.clone(),
            DeclaredClass {
                container: Some(container),
            },
        );
        if contain {
            if let Some(parent) = self.container {
                self.out.containers[parent].children.push(container);
            }
        }
        let mut frame = Frame::default();
        let ok = self.bind_params(
            &def.def.params,
            &mut given,
            &mut frame,
            c.name.span,
            &format!("class `{name}`"),
            Some(&name),
        );
        if !ok || self.stopped {
            return;
        }
        if !self.enter(Some(c.name.span)) {
            return;
        }
        // While the body runs, `$name::param` reads its live frame (see `class_var`).
        self.running.push((name.clone(), self.suspended.len() + 1));
        let frame = self.run_body(&def.def.body, frame, Some(container), name_tags(&name));
        self.running.pop();
        self.class_vars.insert(name, frame);
        self.depth -= 1;
    }

    /// The attributes resource defaults give a type, innermost block first, then the
    /// top level's (for define instances, which need them at declaration).
    fn defaults_for(&self, kind: &str) -> AttrMap {
        let mut out = AttrMap::new();
        for b in self.blocks.iter().rev() {
            for (k, attrs) in b.defaults.iter().rev() {
                if k == kind {
                    for (n, a) in attrs {
                        out.insert_if_absent(*n, || a.clone());
                    }
                }
            }
        }
        for (k, attrs) in self.global_defaults.iter().rev() {
            if k == kind {
                for (n, a) in attrs {
                    out.insert_if_absent(*n, || a.clone());
                }
            }
        }
        out
    }

    /// Fills attributes the resources lack from `defaults` (later defaults statements of the
    /// same block win over earlier ones).
    pub(super) fn apply_defaults(&mut self, defaults: &[(String, AttrMap)], resources: &[usize]) {
        if defaults.is_empty() {
            return;
        }
        for &i in resources {
            for (kind, attrs) in defaults.iter().rev() {
                if self.out.resources[i].kind != kind.as_str() {
                    continue;
                }
                let mut relations = Vec::new();
                // Room for exactly what this default adds: 100,000 resources each with a
                // doubled vector add up.
                let own = &mut self.out.resources[i].params;
                let adds = attrs.keys().filter(|n| !own.contains_key(n)).count();
                own.reserve(adds);
                for (name, a) in attrs {
                    if RELATIONS.contains(&name.as_str()) {
                        relations.push((*name, a.clone()));
                        continue;
                    }
                    if name == "tag" {
                        let mut one = AttrMap::new();
                        one.insert(*name, a.clone());
                        for t in self.take_tags(&mut one) {
                            if !self.out.resources[i].tags.contains(&t) {
                                self.out.resources[i].tags.push(t);
                            }
                        }
                        continue;
                    }
                    self.out.resources[i]
                        .params
                        .insert_if_absent(*name, || a.clone());
                }
                self.relate(Endpoint::Resource(i), &relations);
            }
        }
    }

    /// `A -> B ~> C`
    pub(super) fn chain(&mut self, chain: &ast::Chain) {
        let mut sides: Vec<Option<Vec<Endpoint>>> = Vec::new();
        for op in &chain.operands {
            let side = match op {
                ast::ChainOperand::Resource(decl) => Some(self.declare(decl)),
                ast::ChainOperand::Expr(e) => match self.eval(e) {
                    Ok(v) => self
                        .refs_of(&v, e.span, "a chain")
                        .map(|refs| refs.into_iter().map(Endpoint::Ref).collect()),
                    Err(Failed) => None,
                },
            };
            sides.push(side);
        }
        for (i, (refresh, _)) in chain.arrows.iter().enumerate() {
            let (Some(Some(left)), Some(Some(right))) = (sides.get(i), sides.get(i + 1)) else {
                continue;
            };
            for l in left {
                for r in right {
                    self.out.relations.push(Relation {
                        from: l.clone(),
                        to: r.clone(),
                        refresh: *refresh,
                    });
                }
            }
        }
    }

    /// `defined(Type["t"])`: declared so far in evaluation order.
    pub(super) fn is_defined(&self, r: &ResRef) -> bool {
        let kind = r.kind();
        if kind == "class" {
            return self.classes.contains_key(r.title.trim_start_matches("::"));
        }
        let mut index = self.declared.borrow_mut();
        index.catch_up(&self.out);
        index.set.contains(&(kind, r.title.clone()))
    }

    /// `provision { … }` in a one-name node block.
    pub(super) fn provision(&mut self, keyword: Span, body: &[BodyItem]) {
        if self.out.provision.is_some() {
            self.diags.push(Diagnostic::error(
                Code::DuplicateAttribute,
                keyword,
                "a node has at most one `provision` block",
            ));
            return;
        }
        let attrs = self.body_attrs(body, 0);
        let (values, spans, diags) = super::provision::validate(keyword, attrs);
        self.diags.extend(diags);
        self.out.provision = Some(values);
        self.out.provision_spans = Some(spans);
    }

    /// Variables of a class, for `$class::name`: those of an evaluated class, or, while its
    /// body runs, its parameters and the top-level `let`s that have run so far.
    pub(super) fn class_var(&self, class: &str, name: &str) -> Option<&Binding> {
        if let Some(f) = self.class_vars.get(class) {
            return f.get(name);
        }
        self.running_frame(class).and_then(|f| f.get(name))
    }

    /// The own (outermost) frame of a class whose body is running, wherever the evaluation
    /// is now (its body, or a class or define it declared).
    pub(super) fn running_frame(&self, class: &str) -> Option<&Frame> {
        let &(_, level) = self.running.iter().rev().find(|(c, _)| c == class)?;
        if level == self.suspended.len() {
            self.scopes.frames.first()
        } else {
            self.suspended.get(level).and_then(|frames| frames.first())
        }
    }
}

/// What `defined()` looks up: (kind, title) and (kind, namevar value) of the resources and
/// define instances in `NodeEval` up to `resources`/`containers`.
#[derive(Default)]
pub(super) struct DefinedIndex {
    set: FxHashSet<(String, String)>,
    resources: usize,
    containers: usize,
}

impl DefinedIndex {
    fn catch_up(&mut self, out: &NodeEval) {
        for d in &out.resources[self.resources..] {
            self.set.insert((d.kind.to_string(), d.title.clone()));
            if let Some(nv) = schema::namevar(&d.kind) {
                if let Some(Value::Str(s)) = d.params.get(nv).map(|a| &a.value) {
                    self.set.insert((d.kind.to_string(), s.to_string()));
                }
            }
        }
        self.resources = out.resources.len();
        for c in &out.containers[self.containers..] {
            if let ContainerKind::Define(kind) = &c.kind {
                self.set.insert((kind.clone(), c.title.clone()));
            }
        }
        self.containers = out.containers.len();
    }
}

/// Removes the relationship metaparameters from attributes.
fn take_relations(attrs: &mut AttrMap) -> Vec<(Name, Attr)> {
    let mut out = Vec::new();
    for r in RELATIONS {
        if let Some(a) = attrs.shift_remove(r) {
            out.push((Name::new(r), a));
        }
    }
    out
}

/// Tags for a class or define name: the name and, when namespaced, each segment.
pub(super) fn name_tags(name: &str) -> Vec<Name> {
    let mut out = vec![Name::new(name)];
    if name.contains("::") {
        for seg in name.split("::") {
            if !seg.is_empty() && !out.iter().any(|t| t == seg) {
                out.push(Name::new(seg));
            }
        }
    }
    out
}

/// Whether a type expression names `Sensitive` anywhere (aliases not followed).
fn mentions_sensitive(ty: &crate::syntax::ast::TypeExpr) -> bool {
    let mut found = false;
    super::types::each_name(ty, &mut |n| found |= n == "Sensitive");
    found
}
