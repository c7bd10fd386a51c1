/* rl_int.h — the policy-gradient strategies reinforce and ppo (rl.c): an LSTM controller
 * (controller.c) samples architectures, the told scores are the rewards. Never installed. */
#ifndef NASC_RL_INT_H
#define NASC_RL_INT_H

#include "learn_int.h"

/* Records on g the REINFORCE loss of one sampled sequence d[0..n):
 *   L = adv * sum_t -log p(d_t) - ent * sum_t H_t
 * whose gradient is the policy-gradient estimate with advantage adv and an entropy bonus.
 * Returns the (1,1,1,1) loss, or NULL with the error on g. */
NASC_INTERNAL nasc_tensor *nasc_rl_reinforce_loss(nasc_controller *c, nasc_graph *g, const int *d,
                                                  int n, double adv, double ent);

/* Records on g a loss whose gradient equals the gradient of the PPO objective of one sequence
 * (Schulman et al. 2017, eq. 7 and 9, rewards at the end, no discount):
 *   J = sum_t -min(r_t A_t, clip(r_t, 1-eps, 1+eps) A_t) + vcoef sum_t (V_t - ret)^2
 *       - ent sum_t H_t,     r_t = p(d_t) / p_old(d_t) = exp(logp_t - old_lp[t])
 * The ratio's gradient is r_t grad log p_t, so the clipped term is built as
 * sum_t c_t (-log p_t) with the constant c_t = A_t r_t where the unclipped term is the minimum
 * (A_t > 0 and r_t < 1+eps, or A_t < 0 and r_t > 1-eps), else 0. *out_obj receives J evaluated
 * in double from the forward values (for the finite-difference test). */
NASC_INTERNAL nasc_tensor *nasc_rl_ppo_loss(nasc_controller *c, nasc_graph *g, const int *d, int n,
                                            const double *old_lp, const double *adv, double ret,
                                            double eps, double vcoef, double ent, double *out_obj);

#endif /* NASC_RL_INT_H */
