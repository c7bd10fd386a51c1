#!/usr/bin/env python3
"""bench/auto/proxy_check.py — does synflow pay for nasc auto's pruning? (docs/AUTO.md, "Proxies")

  proxy_check.py nb201 PROXY_DB [TABLE]      synflow scores of random NB201 cells (a search with
      --proxy synflow at C=16, 5 cells on 3x32x32 inputs) against data/nb201.csv: Spearman with
      the CIFAR-10 accuracies, and a bootstrap of auto's rule (T trials from the best T of 5T
      random cells by synflow vs T random cells; the search picks on the 12-epoch validation
      accuracy; the pick's 200-epoch test accuracy is reported).
  proxy_check.py fmnist PROXY_DB TRAIN_DB    the same random cells (same seed, random strategy)
      scored by synflow and by 1-epoch training: Spearman, and the best fifth by synflow.
"""
import csv, math, random, sqlite3, statistics, sys

def ranks(v):
    o = sorted(range(len(v)), key=lambda i: v[i]); r = [0.0] * len(v); i = 0
    while i < len(o):
        j = i
        while j + 1 < len(o) and v[o[j + 1]] == v[o[i]]:
            j += 1
        for k in range(i, j + 1):
            r[o[k]] = (i + j) / 2
        i = j + 1
    return r

def pearson(a, b):
    n = len(a); ma = sum(a) / n; mb = sum(b) / n
    sa = math.sqrt(sum((x - ma) ** 2 for x in a)); sb = math.sqrt(sum((y - mb) ** 2 for y in b))
    return sum((x - ma) * (y - mb) for x, y in zip(a, b)) / (sa * sb)

def spearman(a, b):
    return pearson(ranks(a), ranks(b))

def trials(db):
    c = sqlite3.connect(db)
    return {r[0]: (r[1], r[2]) for r in c.execute("select id, arch, score from trials where status='ok'")}

if sys.argv[1] == 'nb201':
    table = sys.argv[3] if len(sys.argv) > 3 else 'data/nb201.csv'
    tab = {r['arch']: r for r in csv.DictReader(open(table))}
    cells = [(s, float(tab[a]['cifar10_valid_12ep']), float(tab[a]['cifar10_test']), float(tab[a]['cifar10_valid']))
             for a, s in trials(sys.argv[2]).values() if a in tab]
    syn = [c[0] for c in cells]
    for name, k in (('test, 200 epochs', 2), ('validation, 200 epochs', 3), ('validation, 12 epochs', 1)):
        print('synflow vs CIFAR-10 %s over %d cells: Spearman %.3f' % (name, len(cells), spearman(syn, [c[k] for c in cells])))
    top = sorted(cells, key=lambda c: -c[0])[:max(1, len(cells) // 10)]
    print('test accuracy: all %.2f %%, best tenth by synflow %.2f %% (its best %.2f %%, best of all %.2f %%)' % (
        statistics.mean(c[2] for c in cells), statistics.mean(c[2] for c in top), max(c[2] for c in top), max(c[2] for c in cells)))
    rng = random.Random(1)
    for T in (5, 10, 20):
        r_res, p_res = [], []
        for _ in range(3000):
            pool = rng.sample(cells, min(5 * T, len(cells)))
            r_res.append(max(pool[:T], key=lambda c: c[1])[2])
            p_res.append(max(sorted(pool, key=lambda c: -c[0])[:T], key=lambda c: c[1])[2])
        print('T=%2d trials: the pick\'s test accuracy, random %.2f %% (sd %.2f), synflow-pruned %.2f %% (sd %.2f)' % (
            T, statistics.mean(r_res), statistics.stdev(r_res), statistics.mean(p_res), statistics.stdev(p_res)))
else:
    px, tr = trials(sys.argv[2]), trials(sys.argv[3])
    ids = sorted(set(px) & set(tr))
    assert all(px[i][0] == tr[i][0] for i in ids), 'not the same cells'
    a = [px[i][1] for i in ids]; b = [tr[i][1] for i in ids]
    print('synflow vs 1-epoch validation accuracy over %d cells: Spearman %.3f' % (len(ids), spearman(a, b)))
    top = sorted(ids, key=lambda i: -px[i][1])[:max(1, len(ids) // 5)]
    print('validation accuracy: all %.2f %%, best fifth by synflow %.2f %% (its best %.2f %%, best of all %.2f %%)' % (
        statistics.mean(b), statistics.mean(tr[i][1] for i in top), max(tr[i][1] for i in top), max(b)))
