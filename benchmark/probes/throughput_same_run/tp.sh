# ASAF-1 and GAIL side by side, one per core (run from this folder: bash tp.sh)
for env in Hopper-v5 Ant-v5; do
  python ../../../asaf_w.py --window 1 --exp-name asaf_1 --env-id $env --hidden-sizes 256 256 --total-timesteps 200000 --eval-every 0 --final-eval-episodes 5 --seed 101 > asaf_1_$env.log 2>&1 &
  python ../../../gail_ppo.py --env-id $env --hidden-sizes 256 256 --total-timesteps 200000 --eval-every 0 --final-eval-episodes 5 --seed 101 > gail_$env.log 2>&1 &
  wait
done
